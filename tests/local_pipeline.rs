//! The local pipeline's back half: every declared consumer on one bus over one data directory.

use tally::local::{CONSUMERS, DataDir, LocalConsumers, LocalPipeline, declarations};
use tally_consumer::compliance::{example_events, foreign_events};

#[test]
fn every_consumer_receives_page_views_and_everything_is_on_disk_after_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path().join("data"));
    let (pipeline, recovery) = LocalPipeline::open(&data).expect("open pipeline");
    assert_eq!(recovery.records, 0, "a new archive has nothing to recover");

    let examples = example_events();
    assert!(!examples.is_empty());
    for (_, event) in &examples {
        pipeline.bus().put(event.clone()).expect("put");
    }
    for (name, event) in foreign_events() {
        pipeline
            .bus()
            .put(event)
            .unwrap_or_else(|e| panic!("put {name}: {e}"));
    }
    pipeline.shutdown().expect("shutdown");

    // The archive wrote every page view, and nothing else, before shutdown returned; reopening
    // also proves shutdown released the counters' database.
    let (consumers, _) = LocalConsumers::open(&data).expect("reopen");
    let archive = consumers.archive.archive();
    let mut ids: Vec<String> = Vec::new();
    for object in archive.objects().expect("objects") {
        for record in tally_archive::read_object(&object).expect("read object") {
            ids.push(record["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    ids.sort();
    // One record per page view: two examples of the same view (the same `event_id`, in other
    // envelopes) are one event, archived once, as a redelivery would be.
    let mut views = std::collections::BTreeSet::new();
    let mut expected: Vec<String> = examples
        .iter()
        .filter(|(_, e)| views.insert(e["detail"]["event_id"].to_string()))
        .map(|(_, e)| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    expected.sort();
    assert!(expected.len() < examples.len(), "the examples share a view");
    assert_eq!(ids, expected);

    // The counters saw them too: every counted view is in some counter.
    let counted = consumers.counters.counters().expect("counters");
    assert!(
        !counted.is_empty(),
        "the counters consumer counted nothing from {} page views",
        examples.len()
    );

    // The failed page view went to DATA/failed, whole, and nothing else did.
    let failed = tally_failures::read_failed(&data.failed())
        .expect("read failed")
        .events;
    let dead_letter: Vec<_> = foreign_events()
        .into_iter()
        .filter(|(_, e)| e["detail-type"] == "PageView.Failed")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(failed, dead_letter);
    assert_eq!(consumers.failures.len(), 1);

    // `tally failed list` shows it: time, id, error, cause; `--json` the whole event.
    let list = |json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tally"));
        cmd.args(["failed", "list", "--data"]).arg(data.root());
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("run tally failed list");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let event = &dead_letter[0];
    let line = format!(
        "{}\t{}\t{}\t{}\n",
        event["time"].as_str().unwrap_or_default(),
        event["id"].as_str().unwrap_or_default(),
        event["detail"]["error"].as_str().unwrap_or_default(),
        event["detail"]["cause"].as_str().unwrap_or_default(),
    );
    assert_eq!(list(false), line);
    let whole: serde_json::Value = serde_json::from_str(list(true).trim()).expect("json line");
    assert_eq!(&whole, event);
}

#[test]
fn declarations_name_every_consumer_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (consumers, _) = LocalConsumers::open(&DataDir::new(dir.path())).expect("open");
    let opened: Vec<String> = consumers
        .all()
        .iter()
        .map(|c| c.declaration().name)
        .collect();
    let declared: Vec<String> = declarations().into_iter().map(|d| d.name).collect();
    assert_eq!(opened, declared);
    let mut unique = declared.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), declared.len(), "{declared:?}");
    let named: Vec<&str> = CONSUMERS.iter().map(|c| c.name()).collect();
    assert_eq!(named, declared, "each consumer's name is its declaration's");
    for d in declarations() {
        d.validate().unwrap_or_else(|e| panic!("{}: {e}", d.name));
    }
}

#[test]
fn replaying_to_one_consumer_names_the_known_ones_when_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (consumers, _) = LocalConsumers::open(&data).expect("open");
    let err = LocalPipeline::with_one(&data, consumers, "nope").expect_err("unknown consumer");
    let message = err.to_string();
    assert!(message.contains("\"nope\""), "{message}");
    assert!(
        message.contains("archive") && message.contains("counters"),
        "{message}"
    );
}

#[test]
fn opening_the_pipeline_purges_the_counters_expired_dedupe_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path().join("data"));
    {
        let (consumers, _) = LocalConsumers::open(&data).expect("open");
        let (_, event) = example_events()
            .into_iter()
            .find(|(_, e)| e["detail-type"] == "PageView")
            .expect("a page view example");
        let view = tally_counters::CountedView::from_detail(&event["detail"]).expect("view");
        let long_ago = chrono::Utc::now() - chrono::Duration::days(30);
        consumers.counters.apply_at(&view, long_ago).expect("apply");
        let snapshot = tally_consumer::compliance::Probe::snapshot(&*consumers.counters);
        assert_eq!(snapshot["dedupe_records"], 1);
    }
    let (pipeline, _) = LocalPipeline::open(&data).expect("open pipeline");
    let snapshot = tally_consumer::compliance::Probe::snapshot(&*pipeline.consumers().counters);
    assert_eq!(
        snapshot["dedupe_records"], 0,
        "expired 23 days ago: purged on open"
    );
    pipeline.shutdown().expect("shutdown");
}
