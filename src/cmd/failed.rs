//! `tally failed …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use crate::local::DataDir;

/// `tally failed` subcommands.
#[derive(Debug, Subcommand)]
pub enum FailedCommand {
    /// List the failed page views (`PageView.Failed` events in DATA/failed, read beside a running
    /// `tally serve`), in the order they arrived: one line each, `time id error cause`, or the whole events as JSON lines with --json. With
    /// --aws, every failure queue of the deployed stacks instead (`queue time event_id reason`),
    /// read without taking anything away.
    List {
        /// The data directory `tally serve` writes.
        #[arg(long, default_value = "tally-data")]
        data: PathBuf,
        /// Print each whole event (with --aws: each message) as one JSON line.
        #[arg(long)]
        json: bool,
        /// Read the deployed stacks' failure queues (dead-letter, failed-events, last resort,
        /// failure) with the SDK's default credentials and region.
        #[arg(long)]
        aws: bool,
        /// With --aws: the stack prefix given to `tally deploy`.
        #[arg(long, default_value = "tally", requires = "aws")]
        stack_prefix: String,
        /// With --aws: another endpoint (a local stand-in such as moto).
        #[arg(long, requires = "aws")]
        endpoint_url: Option<String>,
    },
    /// Put what the deployed stacks' failure queues hold back the way it came: the views the
    /// enrichment could not put on the bus (failed-events and last-resort queues) through it
    /// again, a work queue's dead letters to the work queue, a rule's dead letters on the bus;
    /// keep, and say why, what cannot succeed. Prints a JSON report.
    Redrive {
        /// Redrive the deployed stacks' queues (only the cloud's can be redriven for now).
        #[arg(long, required = true)]
        aws: bool,
        /// The stack prefix given to `tally deploy`.
        #[arg(long, default_value = "tally")]
        stack_prefix: String,
        /// Another endpoint (a local stand-in such as moto).
        #[arg(long)]
        endpoint_url: Option<String>,
    },
}

/// Runs a `tally failed` subcommand.
pub fn run(cmd: FailedCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FailedCommand::List {
            aws: true,
            json,
            stack_prefix,
            endpoint_url,
            ..
        } => list_aws(&stack_prefix, endpoint_url.as_deref(), json),
        FailedCommand::Redrive {
            stack_prefix,
            endpoint_url,
            ..
        } => redrive_aws(&stack_prefix, endpoint_url.as_deref()),
        FailedCommand::List { data, json, .. } => list_local(&DataDir::new(data), json),
    }
}

/// `tally failed list`: beside a running `tally serve` too (it takes no lock).
fn list_local(data: &DataDir, json: bool) -> anyhow::Result<ExitCode> {
    let stored = tally_failures::read_failed(&data.failed())?;
    for damage in &stored.damage {
        eprintln!("lost to damage: {damage}");
    }
    for event in &stored.events {
        if json {
            println!("{event}");
        } else {
            let field = |v: &Value| v.as_str().unwrap_or("-").replace(['\t', '\n'], " ");
            println!(
                "{}\t{}\t{}\t{}",
                field(&event["time"]),
                field(&event["id"]),
                field(&event["detail"]["error"]),
                field(&event["detail"]["cause"]),
            );
        }
    }
    eprintln!("{} failed page view(s)", stored.events.len());
    Ok(ExitCode::SUCCESS)
}

/// `tally failed list --aws`.
fn list_aws(prefix: &str, endpoint_url: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let (runtime, config) = sdk(endpoint_url)?;
    let client = aws_sdk_sqs::Client::new(&config);
    let messages = runtime.block_on(crate::aws_failed::list(&client, prefix))?;
    for m in &messages {
        if json {
            println!("{}", serde_json::to_string(m)?);
        } else {
            let field = |v: Option<&str>| v.unwrap_or("-").replace(['\t', '\n'], " ");
            println!(
                "{}\t{}\t{}\t{}",
                m.queue,
                field(m.sent_at.as_deref()),
                field(m.event_id.as_deref()),
                field(Some(&m.reason)),
            );
        }
    }
    eprintln!(
        "{} message(s) in the failure queues of {prefix}-*",
        messages.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `tally failed redrive --aws`.
fn redrive_aws(prefix: &str, endpoint_url: Option<&str>) -> anyhow::Result<ExitCode> {
    let (runtime, config) = sdk(endpoint_url)?;
    let clients = crate::aws_redrive::Clients {
        sqs: aws_sdk_sqs::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
        events: aws_sdk_eventbridge::Client::new(&config),
    };
    let report = runtime.block_on(crate::aws_redrive::redrive(&clients, prefix))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{} page view(s) run through the enrichment again, {} sent to their queue again, {} put on the bus again, {} kept",
        report.started,
        report.sent_back,
        report.re_put,
        report.kept.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A runtime and the SDK's configuration (default chain; `endpoint_url` instead of AWS's).
pub(crate) fn sdk(
    endpoint_url: Option<&str>,
) -> anyhow::Result<(tokio::runtime::Runtime, aws_config::SdkConfig)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let config = runtime.block_on(loader(endpoint_url).load());
    Ok((runtime, config))
}

/// The SDK's default configuration chain, with `endpoint_url` instead of AWS's.
pub(crate) fn loader(endpoint_url: Option<&str>) -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    match endpoint_url {
        Some(url) => loader.endpoint_url(url),
        None => loader,
    }
}
