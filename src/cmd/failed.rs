//! `tally failed …`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::local::DataDir;

/// `tally failed` subcommands.
#[derive(Debug, Subcommand)]
pub enum FailedCommand {
    /// List the failed page views (`PageView.Failed` events in DATA/failed), oldest first: one
    /// line each, `time id error cause`, or the whole events as JSON lines with --json.
    List {
        /// The data directory `tally serve` writes.
        #[arg(long, default_value = "tally-data")]
        data: PathBuf,
        /// Print each whole event as one JSON line.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `tally failed` subcommand.
pub fn run(cmd: FailedCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FailedCommand::List { data, json } => {
            let events = tally_failures::read_failed(&DataDir::new(data).failed())?;
            for event in &events {
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
            eprintln!("{} failed page view(s)", events.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
