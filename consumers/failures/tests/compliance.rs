//! The failures consumer against the shared consumer compliance checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tally_consumer::compliance::{self, Claims};
use tally_failures::{FailedEvents, read_failed};

#[test]
fn the_failures_consumer_is_compliant_and_keeps_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (consumer, recovery) = FailedEvents::open(tmp.path().join("failed")).unwrap();
    assert_eq!(recovery.events, 0);
    let consumer = Arc::new(consumer);
    compliance::check(
        Arc::clone(&consumer),
        &[Claims {
            rule: "failed",
            examples: &[],
            foreign: &["dead-letter"],
        }],
    );
    // The dead-letter event was stored once, whole, reason included.
    let (_, dead) = compliance::foreign_events()
        .into_iter()
        .find(|(n, _)| n == "dead-letter")
        .unwrap();
    let stored = read_failed(consumer.dir()).unwrap().events;
    assert_eq!(stored, vec![dead.clone()]);
    assert_eq!(stored[0]["detail"]["error"], "Tally.IncompleteInput");
}
