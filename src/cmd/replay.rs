//! `tally replay`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};

use crate::aws_replay::{PutEventsSink, start_replay};
use crate::local::DataDir;
use crate::local::replay::{BusSink, CountersSink, ReplayOptions, ReplayReport, replay};

/// `tally replay --from DATE --to DATE (--consumer NAME | --bus) [--data DIR]`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["consumer", "bus", "aws"])))]
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
    /// Replay onto an EventBridge bus on AWS: with --archive-arn, the bus's EventBridge archive
    /// through StartReplay; without, the archived events under DATA/archive (a copy of the S3
    /// archive, e.g. `aws s3 sync s3://BUCKET/events/ DATA/archive/events/`) through PutEvents.
    #[arg(long, requires = "bus_name")]
    aws: bool,
    /// --aws: the bus's name.
    #[arg(long)]
    bus_name: Option<String>,
    /// --aws: the EventBridge archive to replay with StartReplay.
    #[arg(long, requires = "aws")]
    archive_arn: Option<String>,
    /// --aws --archive-arn: replay only to these rules (repeat); default every rule of the bus
    /// (the archive consumer's rule skips replayed events).
    #[arg(long, requires = "archive_arn")]
    filter_rule_arn: Vec<String>,
    /// --aws: an endpoint URL instead of AWS's (a local stand-in).
    #[arg(long, requires = "aws")]
    endpoint_url: Option<String>,
}

/// Runs `tally replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(&args.data);
    let _lock = data.lock()?;
    let target = match (&args.consumer, args.aws) {
        (Some(consumer), _) => consumer.clone(),
        (None, true) => "aws".into(),
        (None, false) => "bus".into(),
    };
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
    if args.aws {
        bar.finish_and_clear();
        return run_aws(&args, &data, &options);
    }
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

fn run_aws(args: &ReplayArgs, data: &DataDir, options: &ReplayOptions) -> anyhow::Result<ExitCode> {
    let bus = args.bus_name.clone().context("--aws needs --bus-name")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let client = aws_sdk_eventbridge::Client::new(&runtime.block_on(loader.load()));
    if let Some(archive) = &args.archive_arn {
        let bus_arn = runtime
            .block_on(client.describe_event_bus().name(&bus).send())
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)))
            .with_context(|| format!("cannot describe the bus {bus}"))?
            .arn
            .with_context(|| format!("the bus {bus} has no ARN"))?;
        let state = runtime.block_on(start_replay(
            &client,
            &options.name,
            archive,
            &bus_arn,
            &args.filter_rule_arn,
            options.from,
            options.to,
        ))?;
        println!(
            "{}",
            serde_json::json!({"name": options.name, "archive": archive, "bus": bus_arn, "state": state.as_str()})
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = data.dead_letters().join("replay-put-events");
    let dead_letters = tally_bus::local::JsonJournal::open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut sink = PutEventsSink::new(runtime, client, &bus, dead_letters);
    let report = replay(data, options, &mut sink, &mut |_| {}, &mut |_| false)?;
    println!(
        "{}",
        serde_json::to_string_pretty(
            &serde_json::json!({"replay": report, "put_events": sink.report()})
        )?
    );
    Ok(ExitCode::SUCCESS)
}
