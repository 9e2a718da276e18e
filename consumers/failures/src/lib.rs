//! The failed-events consumer: where `PageView.Failed` events end up.
//!
//! When the enrichment state machine cannot complete a page view, its catch-all puts a
//! `PageView.Failed` event on the bus: the error, its cause, the execution and the original
//! input. This consumer subscribes to them, so no failed page view goes to `/dev/null`:
//!
//! - in the cloud, its rule targets the `FailedEventsQueue` SQS queue (long retention, to be
//!   inspected and redriven);
//! - locally, [`FailedEvents`] appends each event, whole envelope, as one record of a
//!   `tally-journal` in `DIR`, durably (fsynced before the delivery is acknowledged) and once per
//!   envelope `id`; [`read_failed`] reads them beside a running writer.

mod store;

use serde_json::json;
use std::path::Path;

use tally_consumer::{
    Consumer, Declaration, Listing, OpenError, Opened, Retry, RuleDeclaration, TargetKind,
};

pub use store::{Appended, FailedEvents, FailuresError, Recovery, Stored, read_failed};

/// The consumer's name in its declaration.
pub const NAME: &str = "failures";

/// The store's directory in a local data directory: `DATA/failed/`.
pub const LOCAL_DIR: &str = "failed";

/// The failed-events consumer in the workspace's consumer list.
pub const CONSUMER: &dyn Consumer = &Listing {
    name: NAME,
    declaration,
    open_local,
};

/// Opens the store in `DATA/failed/`.
fn open_local(data: &Path) -> Result<Opened, OpenError> {
    let dir = data.join(LOCAL_DIR);
    let (failures, _) = FailedEvents::open(&dir).map_err(|e| OpenError::new(NAME, dir, e))?;
    Ok(Opened::new(failures))
}

/// The declaration: one rule, every `PageView.Failed` event from `tally`, whole event, to the
/// `FailedEventsQueue` SQS queue.
pub fn declaration() -> Declaration {
    Declaration {
        name: NAME.into(),
        description: "failed page views: every PageView.Failed event, whole, with its reason"
            .into(),
        rules: vec![RuleDeclaration {
            name: "failed".into(),
            pattern: json!({
                "source": ["tally"],
                "detail-type": ["PageView.Failed"]
            }),
            target: TargetKind::Sqs {
                queue: "FailedEventsQueue".into(),
            },
            input: None,
            input_path: None,
            input_transformer: None,
            retry: Retry::default(),
        }],
    }
}
