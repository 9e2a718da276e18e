//! `tally rules …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;
use tally_bus::Pattern;

/// `tally rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Test an event against an EventBridge event pattern: exit 0 on a match, 1 on no match,
    /// 2 on an invalid pattern (saying why) or unreadable input.
    Test {
        /// The event pattern (JSON file).
        #[arg(long)]
        pattern: PathBuf,
        /// The event (JSON file, a whole EventBridge event).
        #[arg(long)]
        event: PathBuf,
    },
}

/// Runs a `tally rules` subcommand.
pub fn run(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Test { pattern, event } => {
            let text = std::fs::read_to_string(&pattern)
                .with_context(|| format!("cannot read {}", pattern.display()))?;
            let pattern = Pattern::parse(&text)
                .with_context(|| format!("invalid pattern {}", pattern.display()))?;
            let text = std::fs::read_to_string(&event)
                .with_context(|| format!("cannot read {}", event.display()))?;
            let event: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not json", event.display()))?;
            if pattern.matches(&event) {
                println!("match");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("no match");
                Ok(ExitCode::from(1))
            }
        }
    }
}
