//! The handler with the real clients against moto: log objects in moto's S3, executions of the
//! real enrichment definition in moto's Step Functions, events through an EventBridge rule to an
//! SQS target out, counted exactly; poison lines in the failure queue with their reason; the
//! same object read twice gives the same `event_id`s.
//!
//! Needs the moto server that `./tests/run` starts (it sets `TALLY_MOTO_ENDPOINT`); run alone,
//! it fails, saying so. Nothing here calls AWS. The S3 notification is the fixture events (with
//! the test's bucket), handed to the handler as the Lambda service would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::Credentials;
use serde_json::{Value, json};
use support::{config, fixture, key, object_for};
use tally_standard_logs_lambda::s3::S3;
use tally_standard_logs_lambda::sfn::Sfn;
use tally_standard_logs_lambda::sqs::Sqs;
use tally_standard_logs_lambda::{Summary, handle};

async fn moto() -> SdkConfig {
    let endpoint = std::env::var("TALLY_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "this test needs the moto server: run it through ./tests/run, which installs and \
             starts moto and sets TALLY_MOTO_ENDPOINT"
        )
    });
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// Messages from `url` until `want` have come or ten seconds have passed, then whatever else
/// arrives within a moment (a duplicate would).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for round in 0..110 {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in r.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if out.len() >= want && (round >= 100 || r.messages().is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out
}

/// A bus with a rule sending every page view to a queue, and the enrichment machine onto it.
async fn pipeline(aws: &SdkConfig, bus: &str) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    events.create_event_bus().name(bus).send().await.unwrap();
    let (target_url, target_arn) = queue(&sqs, &format!("{bus}-views")).await;
    let pattern = json!({"source": ["tally"], "detail-type": ["PageView"]});
    events
        .put_rule()
        .name("views")
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("q")
        .arn(target_arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("views")
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    let definition = std::fs::read_to_string(
        std::path::Path::new(
            &std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../../state-machines/enrich.asl.json"),
    )
    .unwrap()
    .replace("${EventBusName}", bus);
    let machine = aws_sdk_sfn::Client::new(aws)
        .create_state_machine()
        .name(bus)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/enrich")
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    (target_url, machine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_objects_become_exactly_their_page_views_on_the_bus() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let aws = moto().await;
    let s3 = aws_sdk_s3::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let name = unique("standard");
    let (target_url, machine) = pipeline(&aws, &name).await;
    let (failures_url, _) = queue(&sqs, &format!("{name}-failures")).await;
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let config = config(&[]);
    let (objects, enrichment) = (
        S3::new(s3.clone()),
        Sfn::new(aws_sdk_sfn::Client::new(&aws), machine),
    );
    let failures = Sqs::new(sqs.clone(), failures_url.clone());
    let mut run = Summary::default();
    for variant in ["standard-log", "v2-json"] {
        let mut event = fixture(variant);
        event.records[0].s3.bucket.name = Some(name.clone());
        let body = aws_sdk_s3::primitives::ByteStream::from(object_for(variant));
        s3.put_object()
            .bucket(&name)
            .key(key(&event))
            .body(body)
            .send()
            .await
            .unwrap();
        let summary = handle(&config, &objects, &enrichment, &failures, &event)
            .await
            .unwrap();
        run.started += summary.started;
        run.rejected += summary.rejected;
    }
    assert_eq!((run.started, run.rejected), (8, 4), "{run:?}");
    let views = drain(&sqs, &target_url, 8).await;
    assert_eq!(views.len(), 8, "exactly one event per page view: {views:?}");
    let ids = |views: &[Value]| -> BTreeSet<String> {
        views
            .iter()
            .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = ids(&views);
    assert_eq!(first.len(), 8);
    for e in &views {
        assert_eq!(
            e["detail"]["schema_version"], "1-0-0",
            "completed by the enrichment"
        );
        let text = e.to_string();
        assert!(
            !text.contains("192.0.2.") && !text.contains("Mozilla"),
            "{text}"
        );
    }
    let rejected = drain(&sqs, &failures_url, 4).await;
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    assert!(
        rejected
            .iter()
            .all(|r| r["bucket"] == name.as_str() && r["line"].is_u64()),
        "{rejected:?}"
    );

    // The same object again (a retried invocation): the same event ids, nothing new to count.
    let mut again = fixture("standard-log");
    again.records[0].s3.bucket.name = Some(name.clone());
    let summary = handle(&config, &objects, &enrichment, &failures, &again)
        .await
        .unwrap();
    assert_eq!(summary.started, 4);
    let repeated = drain(&sqs, &target_url, 4).await;
    assert!(ids(&repeated).is_subset(&first), "{repeated:?}");
    assert_eq!(
        drain(&sqs, &failures_url, 2).await.len(),
        2,
        "its poison lines again"
    );

    // Expired by the lifecycle rule before it was read: kept as a rejected object, not retried.
    s3.delete_object()
        .bucket(&name)
        .key(key(&again))
        .send()
        .await
        .unwrap();
    let summary = handle(&config, &objects, &enrichment, &failures, &again)
        .await
        .unwrap();
    assert_eq!((summary.objects, summary.rejected), (0, 1));
    let gone = drain(&sqs, &failures_url, 1).await;
    assert_eq!(gone[0]["line"], Value::Null);
    assert!(
        gone[0]["reason"].as_str().unwrap().contains("gone"),
        "{gone:?}"
    );
}
