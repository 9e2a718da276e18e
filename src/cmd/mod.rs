//! The `tally` command line.

pub mod cost;
pub mod deploy;
pub mod deploy_aws;
pub mod edge;
pub mod query;
pub mod rules;
pub mod schema;
pub mod states;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Server-side page-view statistics on AWS, and on one machine.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The page-view schema: generate, check, validate, export, publish.
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
    /// EventBridge rules: test a pattern against an event.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Run SQL or a named query over the local archive (DataFusion).
    Query(query::QueryArgs),
    /// Step Functions state machines, run locally.
    #[command(subcommand)]
    States(states::StatesCommand),
    /// The edge producer (Lambda@Edge): inspect an event, package the function.
    #[command(subcommand)]
    Edge(edge::EdgeCommand),
    /// Deploy to AWS: render the templates (`--dry-run`), build the Lambdas, deploy both stacks.
    Deploy(deploy::DeployArgs),
    /// The monthly AWS cost of the deployment, component by component.
    Cost(cost::CostArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema(cmd) => schema::run(cmd),
        Command::Query(args) => query::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::States(cmd) => states::run(cmd),
        Command::Edge(cmd) => edge::run(cmd),
        Command::Deploy(args) => deploy::run(args),
        Command::Cost(args) => cost::run(args),
    }
}
