//! Local mode: the pieces that join the workspace's libraries into one pipeline on one machine.

mod put_events;

pub use put_events::{PUT_EVENTS, PutEventsTask};

use tally_bus::local::BusConfig;

/// The local bus's name, and the `EventBusName` substitution local runs use by default.
pub const BUS_NAME: &str = "tally";

/// The local bus: named [`BUS_NAME`], in the stand-in account `000000000000` and region `local`.
pub fn bus_config() -> BusConfig {
    BusConfig::new(BUS_NAME, "000000000000", "local")
}
