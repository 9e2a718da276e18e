//! The data-minimisation flags `tally serve` and `tally import` share.

use clap::Args;
use tally_edge::{Detail, Minimise, TimePrecision};

/// What every page view leaves out or coarsens (PRIVACY.md, "Data minimisation").
#[derive(Debug, Clone, Args)]
pub struct MinimiseArgs {
    /// Leave a viewer detail out of every page view: city, region, timezone or language
    /// (repeat, or separate with commas).
    #[arg(long = "drop", value_name = "DETAIL", value_delimiter = ',')]
    pub drop: Vec<Detail>,
    /// Cut every page view's time down to this unit: millisecond, second, minute or hour.
    #[arg(long, value_name = "UNIT", default_value = "millisecond")]
    pub time_precision: TimePrecision,
}

impl MinimiseArgs {
    /// The producer's setting.
    pub fn minimise(&self) -> Minimise {
        Minimise {
            drop: self.drop.clone(),
            time_precision: self.time_precision,
        }
    }
}
