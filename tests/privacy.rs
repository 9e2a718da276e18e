//! PRIVACY.md names every place Tally keeps data: the entries of a data directory filled by a
//! real `tally serve` (pages answered, then a clean stop) and `tally replay`, and every resource
//! of the deploy templates (and the artifacts stack) that keeps data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use serve_support::{CHROME_LINUX, Server};

/// The checkout, found at run time: a test binary built in another clone sharing the target
/// directory must not read that clone's files.
static ROOT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
});

/// The resource types that keep data (the code of a function included: its package and
/// environment are kept too).
const STORES: [&str; 11] = [
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::Archive",
    "AWS::Logs::LogGroup",
    "AWS::Kinesis::Stream",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Glue::Table",
    "AWS::EventSchemas::Schema",
    "AWS::Athena::WorkGroup",
    "AWS::Lambda::Function",
];

fn privacy() -> String {
    std::fs::read_to_string(Path::new(&*ROOT).join("PRIVACY.md")).expect("PRIVACY.md")
}

/// The first cell of every table row (`| `NAME` | …`): the stores the document describes.
fn rows(doc: &str) -> Vec<String> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |"))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Whether a row describes `DATA/{rel}`, or its parent's placeholder (`DATA/dead-letters/RULE`:
/// an upper-case name stands for any).
fn documents_local(doc: &str, rel: &str) -> bool {
    let rows = rows(doc);
    if rows.contains(&format!("DATA/{rel}")) {
        return true;
    }
    let Some((parent, _)) = rel.rsplit_once('/') else {
        return false;
    };
    rows.iter().any(|row| {
        row.strip_prefix(&format!("DATA/{parent}/"))
            .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase()))
    })
}

/// The entries of `data`, relative to it, with `dead-letters/` and `journal/` (a store per entry)
/// replaced by their entries.
fn local_stores(data: &Path) -> Vec<String> {
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut out = Vec::new();
    for name in names(data) {
        if ["dead-letters", "journal"].contains(&name.as_str()) {
            let inner = names(&data.join(&name));
            out.extend(inner.into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(name);
        }
    }
    out
}

fn tally(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tally {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_store_of_a_data_directory_is_in_privacy_md() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    for path in ["/", "/about/", "/missing-page"] {
        server.get(path, &[("User-Agent", CHROME_LINUX)]);
    }
    assert!(server.stop().success());
    let today = chrono::Utc::now().date_naive().to_string();
    let data_arg = data.to_str().unwrap();
    tally(&[
        "replay",
        "--from",
        &today,
        "--to",
        &today,
        "--consumer",
        "counters",
        "--data",
        data_arg,
    ]);

    let stores = local_stores(&data);
    for expected in [
        "archive",
        "counters.redb",
        "journal/serve-feed",
        "replay",
        "salts",
        "event-id-key",
    ] {
        assert!(
            stores.contains(&expected.to_owned()),
            "{expected} not written: {stores:?}"
        );
    }
    let doc = privacy();
    let missing: Vec<&String> = stores
        .iter()
        .filter(|s| !documents_local(&doc, s))
        .collect();
    assert!(
        missing.is_empty(),
        "PRIVACY.md must name every place the data directory keeps data; missing: {missing:?}"
    );
}

/// `(template, logical id)` of every resource that keeps data.
fn cloud_stores() -> Vec<(String, String)> {
    let dir = Path::new(&*ROOT).join("deploy/templates");
    let mut templates: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    templates.push((
        "artifacts".into(),
        tally::cmd::deploy_aws::artifacts_template(),
    ));
    let mut out = Vec::new();
    for (name, template) in &templates {
        for (id, resource) in template["Resources"].as_object().unwrap() {
            if STORES.contains(&resource["Type"].as_str().unwrap_or_default()) {
                out.push((name.clone(), id.clone()));
            }
        }
    }
    out.sort();
    out
}

/// A rule target's dead-letter queue, which the `{Rule}DeadLetterQueue` row covers.
fn is_rule_dead_letter_queue(id: &str) -> bool {
    tally::local::declarations().iter().any(|d| {
        d.rules.iter().any(|r| {
            let rule = tally_deploy::rule_logical_id(&d.name, &r.name);
            id == format!("{}DeadLetterQueue", rule.trim_end_matches("Rule"))
        })
    })
}

#[test]
fn every_store_of_the_templates_is_in_privacy_md() {
    let doc = privacy();
    let stores = cloud_stores();
    assert!(stores.len() > 20, "{stores:?}");
    let rows = rows(&doc);
    let generic = rows.contains(&"{Rule}DeadLetterQueue".to_owned());
    let missing: Vec<&(String, String)> = stores
        .iter()
        .filter(|(_, id)| !rows.contains(id))
        .filter(|(_, id)| !(generic && is_rule_dead_letter_queue(id)))
        .collect();
    assert!(
        missing.is_empty(),
        "PRIVACY.md must name every resource of the templates that keeps data; missing: {missing:?}"
    );
}

#[test]
fn the_local_placeholder_stands_for_a_name_not_a_path() {
    let doc = "| `DATA/dead-letters/RULE` | x |\n| `DATA/archive` | y |\nsee `DATA/failed`";
    assert!(documents_local(doc, "dead-letters/counters-page-views"));
    assert!(documents_local(doc, "archive"));
    assert!(!documents_local(doc, "journal/bus"));
    assert!(!documents_local(doc, "failed"));
}
