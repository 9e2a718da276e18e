//! The one consumer list: every consumer of the workspace, in delivery order. The deploy
//! templates generate their rules from it ([`declarations`]), the local pipeline opens each on
//! the data directory ([`super::LocalConsumers::open`]), and `tally new consumer` adds a line to
//! it: adding a consumer is one new folder and one line here.

use tally_consumer::{Consumer, Declaration};

/// Every consumer, in the order the bus delivers to them.
pub const CONSUMERS: &[&dyn Consumer] = &[
    tally_archive::CONSUMER,
    tally_counters::CONSUMER,
    tally_failures::CONSUMER,
];

/// Every consumer's declaration, in the order of [`CONSUMERS`]: what the deploy templates
/// generate rules from.
pub fn declarations() -> Vec<Declaration> {
    CONSUMERS.iter().map(|c| c.declaration()).collect()
}
