//! `tally replay --aws` through PutEvents, against moto: archived events re-put onto a bus in
//! batches, reaching a rule's target with their detail and time; a failed entry dead-lettered
//! with its error code; a resumed replay puts nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tally::aws_replay::PutEventsSink;
use tally::local::DataDir;
use tally::local::replay::{ReplayOptions, replay};
use tally_archive::{Archive, ArchiveConfig};
use tally_bus::local::{JsonJournal, read_dead_letters};

#[test]
fn archived_events_are_put_back_in_batches_and_failures_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let start = Utc.with_ymd_and_hms(2026, 3, 7, 8, 0, 0).unwrap();
    {
        let (archive, _) = Archive::open(ArchiveConfig::new(data.archive())).unwrap();
        for i in 0..25 {
            let at = start + Duration::minutes(i);
            let envelope = json!({
                "version": "0", "id": format!("00000000-0000-4000-8000-{i:012}"), "detail-type": "PageView",
                "source": "tally", "account": "000000000000", "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "region": "local", "resources": [],
                "detail": {"event_id": format!("put-{i}"), "occurred_at": at.to_rfc3339(), "path": "/"}
            });
            archive.append(&envelope, at).unwrap();
        }
        // A record without a detail: PutEvents refuses that entry (InvalidArgument), not the
        // request.
        let broken = json!({"version": "0", "id": "broken", "detail-type": "PageView", "source": "tally",
            "account": "000000000000", "time": "2026-03-07T09:00:00Z", "region": "local",
            "resources": []});
        archive
            .append(&broken, start + Duration::minutes(59))
            .unwrap();
        archive.flush().unwrap();
    }

    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = setup.block_on(support::moto_config());
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = support::unique("replay-bus");
    let queue_url = setup.block_on(async {
        events.create_event_bus().name(&bus).send().await.unwrap();
        support::rule_to_queue(
            &events,
            &sqs,
            &bus,
            &support::unique("all"),
            // Re-put replays carry their own source (PutEvents cannot set replay-name).
            &json!({"source": ["tally.replay"]}),
            &support::unique("replayed"),
        )
        .await
    });

    let dead_path = dir.path().join("dead");
    let options = ReplayOptions {
        from: start.date_naive(),
        to: start.date_naive(),
        name: "aws-test".into(),
        restart: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink = PutEventsSink::new(
        runtime,
        events.clone(),
        &bus,
        JsonJournal::open(&dead_path).unwrap(),
    );
    let report = replay(&data, &options, &mut sink, &mut |_| {}, &mut |_| false).unwrap();
    assert_eq!(report.sink.delivered, 25);
    assert_eq!(report.sink.dead_lettered, 1);
    assert_eq!(sink.report().requests, 3, "26 entries: 10 + 10 + 6");
    assert_eq!(sink.report().retried, 0, "an invalid entry is not retried");

    let dead = read_dead_letters(&dead_path).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].reason.starts_with("InvalidArgument"),
        "{}",
        dead[0].reason
    );
    assert_eq!(dead[0].event["id"], "broken");

    // Every event reached the rule's queue once, with its detail and its original time.
    let mut received: Vec<Value> = Vec::new();
    setup.block_on(async {
        for _ in 0..20 {
            let out = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                received.push(serde_json::from_str(m.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if received.len() >= 25 {
                break;
            }
        }
    });
    let ids: BTreeSet<String> = received
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received.len(), 25);
    assert_eq!(ids, (0..25).map(|i| format!("put-{i}")).collect());
    let first = received
        .iter()
        .find(|e| e["detail"]["event_id"] == "put-0")
        .unwrap();
    assert_eq!(first["time"], "2026-03-07T08:00:00Z");
    assert_eq!(first["source"], "tally.replay", "marked as a re-put replay");

    // Run again: the checkpoint says everything was put; nothing goes twice.
    let again = replay(&data, &options, &mut sink, &mut |_| {}, &mut |_| false).unwrap();
    assert_eq!((again.objects_replayed, again.sink.delivered), (0, 0));
}
