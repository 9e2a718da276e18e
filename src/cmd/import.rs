//! `tally import …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::local::DataDir;
use crate::local::import::{ImportReport, import_cloudfront_logs};

/// `tally import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Backfill the local archive from CloudFront standard access logs (W3C format, gzipped or
    /// not): each successful page request becomes a v1 page-view event, by the edge's rules.
    /// Importing a file again adds nothing.
    CloudfrontLogs(CloudfrontLogsArgs),
}

/// `tally import cloudfront-logs PATH... [--site HOST] [--data DIR]`
#[derive(Debug, Args)]
pub struct CloudfrontLogsArgs {
    /// Log files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The site to write into every event (default: each line's x-host-header).
    #[arg(long)]
    site: Option<String>,
    /// The data directory `tally serve` writes (the archive is DATA/archive).
    #[arg(long, default_value = "tally-data")]
    data: PathBuf,
}

/// Runs a `tally import` subcommand. Exits 0 when every line was read (skips included), 1 when
/// some lines were rejected (they are listed; everything else was imported).
pub fn run(cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCommand::CloudfrontLogs(args) => {
            let bar = ProgressBar::new(args.paths.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} import {pos}/{len} files, {msg} [{elapsed}]",
                )
                .context("progress template")?,
            );
            let started = std::time::Instant::now();
            let mut progress = |r: &ImportReport| {
                bar.set_position(r.files as u64);
                bar.set_message(format!(
                    "{} records, {:.0} records/s",
                    r.records,
                    r.records as f64 / started.elapsed().as_secs_f64().max(1e-9)
                ));
            };
            let report = import_cloudfront_logs(
                &args.paths,
                args.site,
                &DataDir::new(&args.data),
                Utc::now(),
                &mut progress,
            )?;
            bar.finish_and_clear();
            for p in &report.problems {
                eprintln!(
                    "warning: {}:{}: {}: {}",
                    p.file.display(),
                    p.line,
                    p.reason,
                    p.message
                );
            }
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
