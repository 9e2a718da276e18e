//! The archive against the shared consumer compliance checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tally_archive::{ArchiveConfig, ArchiveConsumer};
use tally_consumer::compliance::{self, Claims};

#[test]
fn the_archive_is_a_compliant_consumer() {
    let tmp = tempfile::tempdir().unwrap();
    let (consumer, _) = ArchiveConsumer::open(ArchiveConfig::new(tmp.path())).unwrap();
    let all: Vec<String> = compliance::example_events()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let consumer = Arc::new(consumer);
    compliance::check(
        Arc::clone(&consumer),
        &[Claims {
            rule: "page-views",
            examples: &all,
            foreign: &[],
        }],
    );
    // Every page view was archived once, whole: examples that are the same view (one
    // `event_id` in two envelopes) are one record.
    let views: std::collections::BTreeSet<String> = compliance::example_events()
        .iter()
        .map(|(_, e)| e["detail"]["event_id"].to_string())
        .collect();
    let written = compliance::Probe::written(consumer.as_ref());
    assert_eq!(written.len(), views.len());
}
