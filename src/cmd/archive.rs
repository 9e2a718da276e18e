//! `tally archive …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Subcommand;
use serde_json::json;
use tally_archive::{ArchiveConfig, CompactOptions, compact_day};

use crate::local::DataDir;

/// `tally archive` subcommands.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Merge the small objects of each hour partition of one (finished) day into large ones,
    /// atomically, with the same records.
    Compact {
        /// The UTC day, YYYY-MM-DD.
        #[arg(long)]
        day: NaiveDate,
        /// The data directory (the archive is DATA/archive).
        #[arg(long, default_value = "tally-data")]
        data: PathBuf,
    },
}

/// Runs a `tally archive` subcommand.
pub fn run(cmd: ArchiveCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ArchiveCommand::Compact { day, data } => {
            let data = DataDir::new(data);
            let _lock = data.lock()?;
            let config = ArchiveConfig::new(data.archive());
            let report = compact_day(&config, day, &CompactOptions::default())
                .with_context(|| format!("cannot compact {day}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "day": day.to_string(),
                    "partitions": report.partitions,
                    "partitions_compacted": report.compacted,
                    "objects_before": report.objects_before,
                    "objects_after": report.objects_after,
                    "records_merged": report.records,
                    "leftovers_removed": report.leftovers_removed,
                }))?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
