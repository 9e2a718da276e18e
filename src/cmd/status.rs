//! `tally status --aws`

use std::process::ExitCode;

use clap::Args;

use crate::aws_status::{Clients, RegionClients, collect};
use crate::cmd::deploy_aws::EDGE_REGION;
use crate::cmd::failed::{loader, sdk};

/// `tally status --aws [--stack-prefix P] [--endpoint-url URL] [--json]`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Read the deployed stacks (with the SDK's default credentials and region, and us-east-1
    /// for the edge): locally, the dashboard's /_tally/api/status says how `tally serve` is.
    #[arg(long, required = true)]
    pub aws: bool,
    /// The stack prefix given to `tally deploy`.
    #[arg(long, default_value = "tally")]
    pub stack_prefix: String,
    /// Another endpoint (a local stand-in such as moto).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Print the status as one JSON document instead of the screen.
    #[arg(long)]
    pub json: bool,
}

/// Prints the status; exits 1 when something needs looking at (an alarm firing, a failure queue
/// holding messages, a failed stack), so a script can tell.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (runtime, config) = sdk(args.endpoint_url.as_deref())?;
    let home = RegionClients::new(&config)?;
    let edge = if home.region == EDGE_REGION {
        None
    } else {
        let edge =
            loader(args.endpoint_url.as_deref()).region(aws_config::Region::new(EDGE_REGION));
        Some(RegionClients::new(&runtime.block_on(edge.load()))?)
    };
    let clients = Clients {
        home,
        edge,
        sqs: aws_sdk_sqs::Client::new(&config),
    };
    let now = chrono::Utc::now().timestamp();
    let status = runtime.block_on(collect(&clients, &args.stack_prefix, now))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.screen());
    }
    Ok(if status.problems().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
