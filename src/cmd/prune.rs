//! `tally prune`: retention in the data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Args;

use crate::local::DataDir;
use crate::local::prune::{DEFAULT_RETENTION_DAYS, prune};

/// `tally prune [--retention-days N] [--data DIR]`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Days kept: older page views go from the archive, the counters' day counts, the dead
    /// letters and the failed events; visitor salts go once their window is over.
    #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    retention_days: u32,
    /// The data directory.
    #[arg(long, default_value = "tally-data")]
    data: PathBuf,
}

/// Runs `tally prune`: prints what went, as JSON.
pub fn run(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(args.data);
    let _lock = data.lock()?;
    let report = prune(&data, args.retention_days, Utc::now())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
