//! `tally import …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tally_logs::{ImportConfig, LogFormat, RealtimeFields};

use crate::cmd::minimise::MinimiseArgs;
use crate::local::DataDir;
use crate::local::import::{ImportReport, import_cloudfront_logs};

/// `tally import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Backfill the local archive from CloudFront logs (standard W3C, standard v2 JSON or
    /// real-time records; gzipped or not): each successful page request becomes a v1 page-view
    /// event, by the edge's rules. Importing a file again adds nothing.
    CloudfrontLogs(CloudfrontLogsArgs),
}

/// `tally import cloudfront-logs PATH... [--format F [--fields LIST]] [--site HOST] [--data DIR]`
#[derive(Debug, Args)]
pub struct CloudfrontLogsArgs {
    /// Log files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The files' format.
    #[arg(long, value_enum, default_value_t = Format::Standard)]
    format: Format,
    /// The real-time log configuration's fields, comma-separated, in the order of its `Fields`
    /// (as `aws cloudfront get-realtime-log-config` prints them); only with `--format realtime`.
    #[arg(long, required_if_eq("format", "realtime"))]
    fields: Option<String>,
    /// The site to write into every event (default: each line's x-host-header).
    #[arg(long)]
    site: Option<String>,
    /// The data directory `tally serve` writes (the archive is DATA/archive).
    #[arg(long, default_value = "tally-data")]
    data: PathBuf,
    /// What every imported page view leaves out or coarsens.
    #[command(flatten)]
    minimise: MinimiseArgs,
}

/// CloudFront's log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Standard logs, W3C format (legacy, or v2's W3C output): `#Fields` lines, tab-separated.
    Standard,
    /// Standard logging v2's JSON output: one object a line.
    #[value(name = "v2-json")]
    V2Json,
    /// Real-time log records, one a line, read by `--fields`.
    Realtime,
}

impl CloudfrontLogsArgs {
    fn log_format(&self) -> anyhow::Result<LogFormat> {
        match (self.format, &self.fields) {
            (Format::Realtime, Some(list)) => Ok(LogFormat::Realtime(
                RealtimeFields::parse(list).context("--fields")?,
            )),
            (Format::Realtime, None) => anyhow::bail!("--format realtime needs --fields"),
            (_, Some(_)) => anyhow::bail!("--fields is only for --format realtime"),
            (Format::Standard, None) => Ok(LogFormat::Standard),
            (Format::V2Json, None) => Ok(LogFormat::V2Json),
        }
    }
}

/// Runs a `tally import` subcommand. Exits 0 when every line was read (skips included), 1 when
/// some lines were rejected (they are listed; everything else was imported).
pub fn run(cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCommand::CloudfrontLogs(args) => {
            let format = args.log_format()?;
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
                &format,
                ImportConfig::new(args.site).minimised(args.minimise.minimise()),
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
