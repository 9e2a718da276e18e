//! `tally status --aws`: a deployed Tally on one screen. The stacks and their state, the last
//! hour's counts from the metrics the functions emit (CloudWatch embedded metric format, namespace
//! `Tally`) and the enrichment's executions, every queue's depth, and every alarm not `OK`.
//!
//! Read from two regions: the home region (the pipeline and the log producers) and us-east-1 (the
//! edge function and the site). Lambda@Edge writes its logs, and so its metrics, in the region
//! where each copy runs: the edge's counts here are those of the two regions read, not of every
//! region a viewer was served from.

mod alarms;
mod counts;
mod queues;
mod screen;
mod stacks;

use serde::Serialize;

pub use alarms::Alarm;
pub use counts::{Counts, Executions, FUNCTIONS, WINDOW_S};
pub use queues::QueueDepth;
pub use stacks::Stack;

/// The clients of one region.
#[derive(Debug, Clone)]
pub struct RegionClients {
    /// The region's name.
    pub region: String,
    /// CloudFormation.
    pub cfn: aws_sdk_cloudformation::Client,
    /// CloudWatch.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl RegionClients {
    /// The clients of `config`'s region; an error when the configuration names none.
    pub fn new(config: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            anyhow::anyhow!(
                "no AWS region: set AWS_REGION (or a profile's region) to the home region"
            )
        })?;
        Ok(Self {
            region,
            cfn: aws_sdk_cloudformation::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        })
    }
}

/// What `tally status --aws` reads with.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The home region's (pipeline, log producers).
    pub home: RegionClients,
    /// us-east-1's (edge, site), `None` when it is the home region.
    pub edge: Option<RegionClients>,
    /// SQS in the home region (every queue of the stacks is there).
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// The regions read: home first.
    fn regions(&self) -> impl Iterator<Item = &RegionClients> {
        std::iter::once(&self.home).chain(self.edge.as_ref())
    }
}

/// A deployed Tally, as `tally status --aws` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The stack prefix.
    pub prefix: String,
    /// Every stack `tally deploy` makes, deployed or not.
    pub stacks: Vec<Stack>,
    /// Views, skips and failures of the last [`WINDOW_S`] seconds, by function and region.
    pub counts: Vec<Counts>,
    /// The enrichment's executions over the same window (`None`: no pipeline stack).
    pub executions: Option<Executions>,
    /// Every queue named `PREFIX-…`.
    pub queues: Vec<QueueDepth>,
    /// Every alarm named `PREFIX-…`, in both regions.
    pub alarms: Vec<Alarm>,
}

impl Status {
    /// What needs looking at, one line each: an alarm not `OK`, a failure queue holding
    /// messages, a stack that failed or is rolled back. Empty: all is well.
    pub fn problems(&self) -> Vec<String> {
        let alarms = self
            .alarms
            .iter()
            .filter(|a| a.state == "ALARM")
            .map(|a| format!("alarm {} ({}): {}", a.name, a.region, a.reason));
        let queues = self
            .queues
            .iter()
            .filter(|q| !q.work_queue && q.messages > 0)
            .map(|q| {
                format!(
                    "{} holds {} message(s): tally failed list --aws",
                    q.name, q.messages
                )
            });
        let stacks = self
            .stacks
            .iter()
            .filter(|s| s.status.as_deref().is_some_and(stacks::is_failed))
            .map(|s| {
                format!(
                    "stack {} ({}) is {}",
                    s.name,
                    s.region,
                    s.status.as_deref().unwrap_or_default()
                )
            });
        alarms.chain(queues).chain(stacks).collect()
    }

    /// The screen: a few sections of aligned columns.
    pub fn screen(&self) -> String {
        screen::render(self)
    }
}

/// Reads the status of the Tally deployed with the stack prefix `prefix`, for the hour before
/// `now` (seconds since the epoch).
pub async fn collect(clients: &Clients, prefix: &str, now: i64) -> anyhow::Result<Status> {
    let stacks = stacks::read(clients, prefix).await?;
    let state_machine = stacks
        .iter()
        .find(|s| s.name == prefix)
        .and_then(|s| s.outputs.get("StateMachineArn").cloned());
    let mut counts = counts::read_functions(&clients.home, &FUNCTIONS, now).await?;
    if let Some(edge) = &clients.edge {
        counts.extend(counts::read_functions(edge, &["edge"], now).await?);
    }
    let executions = match state_machine {
        Some(arn) => Some(counts::executions(&clients.home, &arn, now).await?),
        None => None,
    };
    let mut alarms = Vec::new();
    for region in clients.regions() {
        alarms.extend(alarms::read(region, prefix).await?);
    }
    Ok(Status {
        prefix: prefix.to_owned(),
        stacks,
        counts,
        executions,
        queues: queues::read(&clients.sqs, prefix).await?,
        alarms,
    })
}

/// An SDK error with its sources, on one line.
fn sdk_error<E: std::error::Error + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", crate::registry::error_text(&e))
}
