//! `tally replay`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};

use crate::local::DataDir;
use crate::local::replay::{BusSink, CountersSink, ReplayOptions, ReplayReport, replay};

/// `tally replay --from DATE --to DATE (--consumer NAME | --bus) [--data DIR]`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["consumer", "bus"])))]
pub struct ReplayArgs {
    /// First UTC day of occurred_at, YYYY-MM-DD.
    #[arg(long)]
    from: NaiveDate,
    /// Last UTC day of occurred_at, YYYY-MM-DD, included.
    #[arg(long)]
    to: NaiveDate,
    /// Replay to this consumer only (`counters` takes the fast direct path).
    #[arg(long)]
    consumer: Option<String>,
    /// Replay through the local bus to every consumer whose rules match (the archive's rule
    /// excludes replayed events).
    #[arg(long)]
    bus: bool,
    /// The data directory `tally serve` writes.
    #[arg(long, default_value = "tally-data")]
    data: PathBuf,
    /// The replay's name (its checkpoint, and the events' `replay-name`); default
    /// `TARGET-FROM-TO`. Run a replay again with the same name to resume it.
    #[arg(long)]
    name: Option<String>,
    /// Forget the checkpoint and replay everything again.
    #[arg(long)]
    restart: bool,
}

/// Runs `tally replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(&args.data);
    let target = args.consumer.clone().unwrap_or_else(|| "bus".into());
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{target}-{}-{}", args.from, args.to));
    anyhow::ensure!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "--name must be letters, digits, '-', '_' or '.': {name:?}"
    );
    let options = ReplayOptions {
        from: args.from,
        to: args.to,
        name,
        restart: args.restart,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} replay {pos}/{len} partitions' objects, {msg} [{elapsed}]",
        )
        .context("progress template")?,
    );
    let mut progress = |r: &ReplayReport| {
        bar.set_length((r.objects - r.objects_already_replayed) as u64);
        bar.set_position(r.objects_replayed as u64);
        bar.set_message(format!(
            "{} events, {:.0} events/s",
            r.events_read, r.events_per_second
        ));
    };
    let mut never = |_: &ReplayReport| false;
    let report = match args.consumer.as_deref() {
        Some("counters") => {
            let mut sink = CountersSink::open(&data)?;
            replay(&data, &options, &mut sink, &mut progress, &mut never)?
        }
        only => {
            let mut sink = BusSink::open(&data, only)?;
            let report = replay(&data, &options, &mut sink, &mut progress, &mut never)?;
            sink.shutdown()?;
            report
        }
    };
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
