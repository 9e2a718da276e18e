//! Local mode: the pieces that join the workspace's libraries into one pipeline on one machine.

mod checkpoint;
mod consumers;
pub mod import;
mod pipeline;
pub mod prune;
mod put_events;
pub mod replay;
mod salts;
pub mod secret;
mod send_message;

pub use consumers::{CONSUMERS, declarations};
pub use pipeline::{DataDir, LocalConsumers, LocalPipeline};
pub use salts::DailySalts;

pub use put_events::{PUT_EVENTS, PutEventsTask};
pub use send_message::{LocalQueue, QueuedMessage, SEND_MESSAGE, last_resort_queue, read_queue};

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tally_bus::Pattern;
use tally_bus::local::{BusConfig, LocalBus, Rule, Target, TargetInput};

/// The local bus's name, and the `EventBusName` substitution local runs use by default.
pub const BUS_NAME: &str = "tally";

/// The local bus: named [`BUS_NAME`], in the stand-in account `000000000000` and region `local`.
pub fn bus_config() -> BusConfig {
    BusConfig::new(BUS_NAME, "000000000000", "local")
}

/// Every event put on a [`recording_bus`], in delivery order.
pub type Recorded = Arc<Mutex<Vec<Value>>>;

/// A local bus with one rule that records every event put on it (every envelope has
/// `version` "0"); read the events after `shutdown`.
pub fn recording_bus() -> anyhow::Result<(LocalBus, Recorded)> {
    let recorded: Recorded = Arc::default();
    let sink = {
        let recorded = Arc::clone(&recorded);
        move |event: &TargetInput| {
            if let TargetInput::Json(e) = event {
                recorded.lock().map(|mut r| r.push(e.clone())).ok();
            }
            Ok(())
        }
    };
    let all = Pattern::parse(r#"{"version": ["0"]}"#)?;
    let bus = LocalBus::builder(bus_config())
        .rule(Rule::new("all", all).target(Target::new("record", sink)))
        .build()?;
    Ok((bus, recorded))
}
