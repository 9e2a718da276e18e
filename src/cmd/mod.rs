//! The `tally` command line.

pub mod archive;
pub mod cost;
pub mod deploy;
pub mod deploy_aws;
pub mod deploy_keys;
pub mod deploy_steps;
pub mod edge;
pub mod failed;
pub mod import;
pub mod minimise;
pub mod new;
pub mod prune;
pub mod query;
pub mod replay;
pub mod rules;
pub mod schema;
pub mod serve;
pub mod states;
pub mod status;
pub mod traffic;

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
    /// Serve a static site locally through the whole pipeline, with a dashboard at /_tally/.
    Serve(serve::ServeArgs),
    /// Send realistic simulated traffic to a running site (demos, benchmarks).
    Traffic(traffic::TrafficArgs),
    /// Deploy to AWS: render the templates (`--dry-run`), build the Lambdas, deploy both stacks.
    Deploy(deploy::DeployArgs),
    /// The monthly AWS cost of the deployment, component by component.
    Cost(cost::CostArgs),
    /// Replay the local archive, in event-time order, into one consumer or through the bus.
    Replay(replay::ReplayArgs),
    /// Import events from elsewhere into the local archive (CloudFront access logs).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// The local archive: compaction.
    #[command(subcommand)]
    Archive(archive::ArchiveCommand),
    /// Delete what is older than the retention from the local data directory.
    Prune(prune::PruneArgs),
    /// Failed page views (PageView.Failed events) kept in the local data directory.
    #[command(subcommand)]
    Failed(failed::FailedCommand),
    /// A deployed Tally on one screen (`--aws`): stacks, the last hour's counts, queue depths,
    /// alarms.
    Status(status::StatusArgs),
    /// Generate code: `tally new consumer NAME`.
    #[command(subcommand)]
    New(new::NewCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema(cmd) => schema::run(cmd),
        Command::Query(args) => query::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::States(cmd) => states::run(cmd),
        Command::Edge(cmd) => edge::run(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Traffic(args) => traffic::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Cost(args) => cost::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Import(cmd) => import::run(cmd),
        Command::Archive(cmd) => archive::run(cmd),
        Command::Prune(args) => prune::run(args),
        Command::Failed(cmd) => failed::run(cmd),
        Command::Status(args) => status::run(args),
        Command::New(cmd) => new::run(cmd),
    }
}
