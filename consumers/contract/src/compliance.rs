//! The compliance checks every consumer's tests call.
//!
//! [`check`] runs a consumer on the local bus against the page-view examples of the schema
//! (`schema/page-view/examples/valid`, wrapped into events where they are bare details) and a few
//! foreign events, and fails (panics, with a message saying what) unless:
//!
//! 1. each rule's pattern matches exactly the examples the consumer claims, and rejects the rest;
//! 2. its local handler is idempotent under redelivery: delivering every event a second time,
//!    with the same ids, leaves its state ([`Probe::snapshot`]) unchanged;
//! 3. nothing it was given went to a dead letter;
//! 4. what it writes ([`Probe::written`]) validates against the page-view schema, where it says a
//!    schema applies.
//!
//! This module reads the example files from the source tree: it is meant for tests.

use std::collections::BTreeSet;
use std::fs;
use std::sync::Arc;

use serde_json::{Value, json};
use tally_bus::local::{BusConfig, LocalBus};
use tally_schema::validate::PageViewValidator;

use crate::{LocalConsumer, local_rules};

/// What a consumer's state looks like from outside, for the checks.
pub trait Probe {
    /// Everything observable about the consumer's state (counts, stored records…), comparable
    /// with `==`. Called after the bus has drained and [`LocalConsumer::flush`] has run.
    fn snapshot(&self) -> Value;

    /// Page-view records (details or whole events) the consumer wrote, to validate against the
    /// schema; empty when no schema applies to what it writes.
    fn written(&self) -> Vec<Value> {
        Vec::new()
    }
}

/// What one rule claims to match.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    /// The rule's name in the declaration.
    pub rule: &'a str,
    /// The valid examples it matches, by file name (`full.json`); it must reject the others.
    pub examples: &'a [&'a str],
    /// The foreign events it matches, by name (see [`foreign_events`]); it must reject the others.
    pub foreign: &'a [&'a str],
}

/// The schema's valid page-view examples (`schema/page-view/examples/valid/`), by file name:
/// built in, so a test binary built elsewhere (another clone sharing the target directory)
/// never reads a path that was only true where it was compiled. `every_valid_example_is_built_in`
/// checks the list against the directory.
const VALID_EXAMPLES: [(&str, &str); 6] = [
    (
        "bot.json",
        include_str!("../../../schema/page-view/examples/valid/bot.json"),
    ),
    (
        "envelope.json",
        include_str!("../../../schema/page-view/examples/valid/envelope.json"),
    ),
    (
        "full.json",
        include_str!("../../../schema/page-view/examples/valid/full.json"),
    ),
    (
        "minimal.json",
        include_str!("../../../schema/page-view/examples/valid/minimal.json"),
    ),
    (
        "non-ascii.json",
        include_str!("../../../schema/page-view/examples/valid/non-ascii.json"),
    ),
    (
        "same-site-referrer.json",
        include_str!("../../../schema/page-view/examples/valid/same-site-referrer.json"),
    ),
];

/// The valid page-view examples as whole events, by file name, with stable ids.
pub fn example_events() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = VALID_EXAMPLES
        .iter()
        .map(|(name, text)| {
            let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let event = if value.get("detail").is_some() {
                value
            } else {
                envelope(name, "PageView", value)
            };
            ((*name).to_owned(), event)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Events that are not page views of model 1: `other-source`, `dead-letter` (`PageView.Failed`),
/// `replayed` (a page view an EventBridge archive replays, which carries `replay-name`).
pub fn foreign_events() -> Vec<(String, Value)> {
    let detail = example_events()
        .into_iter()
        .next()
        .map(|(_, e)| e["detail"].clone())
        .unwrap_or_default();
    let mut other = envelope("other-source", "PageView", detail.clone());
    other["source"] = json!("someone.else");
    let dead = envelope(
        "dead-letter",
        "PageView.Failed",
        json!({"error": "Tally.IncompleteInput", "cause": "test", "execution_id": "x", "input": {}}),
    );
    let mut replayed = envelope("replayed", "PageView", detail);
    replayed["replay-name"] = json!("backfill-2026-11");
    vec![
        ("other-source".into(), other),
        ("dead-letter".into(), dead),
        ("replayed".into(), replayed),
    ]
}

fn envelope(name: &str, detail_type: &str, detail: Value) -> Value {
    let stem = name
        .trim_end_matches(".json")
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    json!({
        "version": "0", "id": format!("example-{stem}"), "detail-type": detail_type, "source": "tally",
        "account": "000000000000", "time": "2026-11-29T06:40:19Z", "region": "local",
        "resources": [], "detail": detail,
    })
}

/// Runs every check on `consumer`; panics on the first failure, saying what failed.
pub fn check<C: LocalConsumer + Probe>(consumer: Arc<C>, claims: &[Claims<'_>]) {
    let declaration = consumer.declaration();
    if let Err(e) = declaration.validate() {
        panic!("invalid declaration: {e}");
    }
    let checked = declaration.checked().unwrap_or_default();
    let examples = example_events();
    let foreign = foreign_events();

    // 1. Patterns.
    let declared: BTreeSet<&str> = declaration.rules.iter().map(|r| r.name.as_str()).collect();
    let claimed: BTreeSet<&str> = claims.iter().map(|c| c.rule).collect();
    assert_eq!(
        declared, claimed,
        "{}: claims must name every declared rule once",
        declaration.name
    );
    for (rule, compiled) in declaration.rules.iter().zip(&checked) {
        let claim = claims.iter().find(|c| c.rule == rule.name).copied();
        let claim = claim.unwrap_or(Claims {
            rule: "",
            examples: &[],
            foreign: &[],
        });
        let groups = [
            (&examples, claim.examples, "example"),
            (&foreign, claim.foreign, "foreign event"),
        ];
        for (events, claimed, kind) in groups {
            for (name, event) in events.iter() {
                let expected = claimed.contains(&name.as_str());
                let verb = if expected {
                    "does not match"
                } else {
                    "matches"
                };
                assert_eq!(
                    compiled.pattern.matches(event),
                    expected,
                    "{}: rule {:?} {verb} {kind} {name}",
                    declaration.name,
                    rule.name,
                );
            }
        }
    }

    // 2 and 3. Deliver everything through the local bus, twice.
    let dead_letters = std::env::temp_dir().join(format!(
        "tally-compliance-{}-{}",
        declaration.name,
        std::process::id()
    ));
    let round = || {
        let rules = local_rules(
            Arc::clone(&consumer) as Arc<dyn LocalConsumer>,
            &dead_letters,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut builder = LocalBus::builder(BusConfig::new("tally", "000000000000", "local"));
        for rule in rules {
            builder = builder.rule(rule);
        }
        let bus = builder.build().unwrap_or_else(|e| panic!("{e}"));
        for (name, event) in examples.iter().chain(&foreign) {
            bus.put(event.clone())
                .unwrap_or_else(|e| panic!("putting {name}: {e}"));
        }
        let reports = bus.shutdown();
        consumer
            .flush()
            .unwrap_or_else(|e| panic!("{}: flush failed: {e}", declaration.name));
        reports
    };
    let first_reports = round();
    let first = consumer.snapshot();
    let _ = round();
    let second = consumer.snapshot();
    let _ = fs::remove_dir_all(&dead_letters);
    assert_eq!(
        first, second,
        "{}: redelivering the same events changed its state",
        declaration.name
    );
    let dead: u64 = first_reports.iter().map(|r| r.stats.dead_lettered).sum();
    assert_eq!(
        dead, 0,
        "{}: events went to the dead letter: {first_reports:?}",
        declaration.name
    );

    // 4. What it wrote validates.
    let validator = PageViewValidator::new().unwrap_or_else(|e| panic!("{e}"));
    for record in consumer.written() {
        let violations = validator.validate(&record);
        assert!(
            violations.is_empty(),
            "{}: wrote an invalid record {record}: {violations:?}",
            declaration.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_example_is_built_in() {
        // The directory of this run's checkout (cargo sets the variable when it runs the test).
        let root = std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo");
        let dir = std::path::Path::new(&root).join("../../schema/page-view/examples/valid");
        let mut on_disk: Vec<(String, String)> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (name, fs::read_to_string(&p).expect("readable"))
            })
            .collect();
        on_disk.sort();
        let built_in: Vec<(String, String)> = VALID_EXAMPLES
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(
            built_in,
            on_disk,
            "VALID_EXAMPLES in consumers/contract/src/compliance.rs must list every file of {}",
            dir.display()
        );
    }
}
