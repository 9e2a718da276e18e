//! The `tally` command line.

pub mod schema;

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
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema(cmd) => schema::run(cmd),
    }
}
