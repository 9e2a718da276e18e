//! `tally cost`: the monthly AWS cost of the deployment for a traffic, and of each producer
//! beside the seed's design.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tally_archive::ArchiveConfig;
use tally_deploy::ArchiveSpec;
use tally_deploy::cost::{self, Prices, ProducerTraffic, Traffic};

/// `tally cost` arguments.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// Page views a month: the pipeline component by component, then each producer. Without
    /// it, each producer at 100 K, 1 M, 10 M and 100 M views.
    #[arg(long)]
    pub views_per_month: Option<u64>,
    /// Days archived events are kept.
    #[arg(long, default_value_t = 400)]
    pub retention_days: u32,
    /// Another price table (default: the committed deploy/prices.json).
    #[arg(long)]
    pub prices: Option<PathBuf>,
}

/// The traffic model of this deployment: the defaults of [`Traffic::new`], with what the
/// definitions say (transitions of the enrichment, Firehose buffering, retention).
pub fn traffic(views_per_month: u64, retention_days: u32) -> anyhow::Result<Traffic> {
    #[allow(clippy::cast_precision_loss)]
    let mut traffic = Traffic::new(views_per_month as f64);
    let definition: serde_json::Value = serde_json::from_str(super::deploy::STATE_MACHINE)
        .context("the enrichment state machine is not JSON")?;
    #[allow(clippy::cast_precision_loss)]
    {
        traffic.standard_transitions_per_execution = cost::success_path_states(&definition) as f64;
    }
    let archive = ArchiveSpec::from_config(&ArchiveConfig::new(""));
    traffic.buffer_seconds = f64::from(archive.buffer_seconds);
    traffic.buffer_mib = f64::from(archive.buffer_mib);
    traffic.retention_days = f64::from(retention_days);
    Ok(traffic)
}

/// The traffics `tally cost` compares the producers at.
pub const COMPARED: [u64; 4] = [100_000, 1_000_000, 10_000_000, 100_000_000];

/// Every producer's cost at each of `views`, with this deployment's traffic model and the
/// default producer assumptions ([`ProducerTraffic::default`]).
pub fn comparison(
    prices: &Prices,
    views: &[u64],
    retention_days: u32,
) -> anyhow::Result<cost::Comparison> {
    let base = traffic(0, retention_days)?;
    #[allow(clippy::cast_precision_loss)]
    let volumes: Vec<f64> = views.iter().map(|v| *v as f64).collect();
    let model = |n: f64| Traffic {
        views_per_month: n,
        ..base.clone()
    };
    Ok(cost::compare(
        prices,
        &volumes,
        model,
        &ProducerTraffic::default(),
    )?)
}

/// Runs `tally cost`.
pub fn run(args: CostArgs) -> anyhow::Result<ExitCode> {
    let prices = match &args.prices {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Prices::parse(&text)?
        }
        None => Prices::committed()?,
    };
    let views: Vec<u64> = match args.views_per_month {
        Some(n) => {
            let traffic = traffic(n, args.retention_days)?;
            let estimate = cost::estimate(&prices, &traffic)?;
            println!("{}", cost::render(&prices, &traffic, &estimate));
            vec![n]
        }
        None => COMPARED.to_vec(),
    };
    let comparison = comparison(&prices, &views, args.retention_days)?;
    print!("{}", cost::render_comparison(&prices, &comparison));
    Ok(ExitCode::SUCCESS)
}
