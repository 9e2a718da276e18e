//! The last hour's counts from CloudWatch: what each Tally function says it did (its
//! embedded-metric-format lines: views handed on, skipped, failed) and the enrichment's
//! executions.

use anyhow::Context;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use serde::Serialize;
use tally_metrics::{FAILED, FUNCTION_DIMENSION, NAMESPACE, SKIPPED, VIEWS};

use super::{RegionClients, sdk_error};

/// The window the counts cover, in seconds: the last hour.
pub const WINDOW_S: i64 = 3600;

/// The functions that emit Tally's metrics, by their `Function` dimension.
pub const FUNCTIONS: [&str; 4] = ["edge", "realtime-logs", "standard-logs", "counters"];

/// One function's counts in one region (`None`: no data point in the window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counts {
    /// The `Function` dimension.
    pub function: String,
    /// The region the metrics are in.
    pub region: String,
    /// Views handed on (executions started; for the counters, events counted).
    pub views: Option<f64>,
    /// Records that were no page view, by the one decision.
    pub skipped: Option<f64>,
    /// Views that failed and went to a failure place.
    pub failed: Option<f64>,
}

/// The enrichment's executions in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Executions {
    /// Its state machine's ARN.
    pub state_machine: String,
    /// `ExecutionsStarted`.
    pub started: Option<f64>,
    /// `ExecutionsSucceeded`.
    pub succeeded: Option<f64>,
    /// `ExecutionsFailed` (dead-lettered or in the last resort).
    pub failed: Option<f64>,
}

/// A query of the sum of `name` in `namespace` with one dimension, over the window.
fn query(id: String, namespace: &str, name: &str, dimension: (&str, &str)) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(name)
        .dimensions(
            Dimension::builder()
                .name(dimension.0)
                .value(dimension.1)
                .build(),
        )
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(WINDOW_S as i32)
        .stat("Sum")
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat)
        .return_data(true)
        .build()
}

/// The sums of `queries`, in their order, over the hour before `now`.
async fn sums(
    region: &RegionClients,
    queries: Vec<MetricDataQuery>,
    now: i64,
) -> anyhow::Result<Vec<Option<f64>>> {
    let ids: Vec<String> = queries.iter().filter_map(|q| q.id.clone()).collect();
    let mut values = vec![None; ids.len()];
    let mut pages = region
        .cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from_secs(now - WINDOW_S))
        .end_time(DateTime::from_secs(now))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(sdk_error)
            .with_context(|| format!("cannot read the metrics of {}", region.region))?;
        for result in page.metric_data_results.unwrap_or_default() {
            let Some(i) = ids.iter().position(|id| result.id.as_ref() == Some(id)) else {
                continue;
            };
            for value in result.values.unwrap_or_default() {
                *values[i].get_or_insert(0.0) += value;
            }
        }
    }
    Ok(values)
}

/// The counts of `functions` in `region` (in the home region all of [`FUNCTIONS`]; in
/// us-east-1, when it is not the home region, the edge's).
pub(crate) async fn read_functions(
    region: &RegionClients,
    functions: &[&str],
    now: i64,
) -> anyhow::Result<Vec<Counts>> {
    let metrics = [VIEWS, SKIPPED, FAILED];
    let queries = functions
        .iter()
        .enumerate()
        .flat_map(|(f, function)| {
            metrics.iter().enumerate().map(move |(m, name)| {
                query(
                    format!("f{f}m{m}"),
                    NAMESPACE,
                    name,
                    (FUNCTION_DIMENSION, function),
                )
            })
        })
        .collect();
    let values = sums(region, queries, now).await?;
    Ok(functions
        .iter()
        .zip(values.chunks(metrics.len()))
        .map(|(function, v)| Counts {
            function: (*function).to_owned(),
            region: region.region.clone(),
            views: v[0],
            skipped: v[1],
            failed: v[2],
        })
        .collect())
}

/// The executions of the state machine `arn` in the hour before `now`.
pub(crate) async fn executions(
    region: &RegionClients,
    arn: &str,
    now: i64,
) -> anyhow::Result<Executions> {
    let names = [
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
    ];
    let queries = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            query(
                format!("e{i}"),
                "AWS/States",
                name,
                ("StateMachineArn", arn),
            )
        })
        .collect();
    let v = sums(region, queries, now).await?;
    Ok(Executions {
        state_machine: arn.to_owned(),
        started: v[0],
        succeeded: v[1],
        failed: v[2],
    })
}
