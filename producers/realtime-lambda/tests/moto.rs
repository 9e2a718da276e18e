//! The handler with the real clients against moto: Kinesis records in, executions of the real
//! enrichment definition in moto's Step Functions, events through an EventBridge rule to an SQS
//! target out, counted exactly; poison records in the failure queue with their reason.
//!
//! Needs the moto server that `./tests/run` starts (it sets `TALLY_MOTO_ENDPOINT`); run alone,
//! it fails, saying so. Nothing here calls AWS. The Kinesis side is the fixture events, handed to
//! the handler as the Lambda service would: moto has no event source mappings to drive it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::Credentials;
use serde_json::{Value, json};
use support::{config, fixture};
use tally_realtime_lambda::handle;
use tally_realtime_lambda::sfn::Sfn;
use tally_realtime_lambda::sqs::Sqs;

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

/// Messages from `url` until `want` have come or ten seconds have passed.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..100 {
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
        if out.len() >= want {
            // Anything beyond `want` would be a duplicate: wait a little for it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let r = sqs.receive_message().queue_url(url).send().await.unwrap();
            out.extend(
                r.messages()
                    .iter()
                    .map(|m| serde_json::from_str(m.body().unwrap()).unwrap()),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_become_exactly_their_page_views_on_the_bus() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let aws = moto().await;
    let sfn = aws_sdk_sfn::Client::new(&aws);
    let events = aws_sdk_eventbridge::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let bus = unique("realtime");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let (target_url, target_arn) = queue(&sqs, &format!("{bus}-views")).await;
    let (failures_url, _) = queue(&sqs, &format!("{bus}-failures")).await;
    let pattern = json!({"source": ["tally"], "detail-type": ["PageView"]});
    events
        .put_rule()
        .name("views")
        .event_bus_name(&bus)
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
        .event_bus_name(&bus)
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
    .replace("${EventBusName}", &bus);
    let machine = sfn
        .create_state_machine()
        .name(&bus)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/enrich")
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn;

    let config = config(&[]);
    let enrichment = Sfn::new(sfn.clone(), machine);
    let failures = Sqs::new(sqs.clone(), failures_url.clone());
    let mut started = 0;
    for variant in ["page-views", "malformed"] {
        let (response, summary) = handle(&config, &enrichment, &failures, &fixture(variant)).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{variant}: {response:?}"
        );
        started += summary.started;
    }
    assert_eq!(
        started, 5,
        "four views, and the page among the poison records"
    );
    let views = drain(&sqs, &target_url, 5).await;
    let ids: BTreeSet<String> = views
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = [1, 2, 3, 4, 15]
        .iter()
        .map(|n| format!("Rt{n}b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="))
        .collect();
    assert_eq!(views.len(), 5, "exactly one event per page view: {views:?}");
    assert_eq!(ids, want);
    for e in &views {
        assert_eq!(
            e["detail"]["schema_version"], "1-0-0",
            "completed by the enrichment"
        );
        assert!(!e.to_string().contains("192.0.2."), "{e}");
    }
    let rejected = drain(&sqs, &failures_url, 4).await;
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    assert!(
        rejected.iter().any(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("11 tab-separated fields")),
        "{rejected:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn daily_salts_are_made_once_shared_and_gone_after_two_days() {
    use tally_realtime_lambda::salts::dynamo::DynamoSalts;
    use tally_realtime_lambda::salts::{SaltStore, salt_key};
    let aws = moto().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let table = unique("salts");
    dynamo
        .create_table()
        .table_name(&table)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stored = |day: chrono::NaiveDate| {
        let (dynamo, table) = (dynamo.clone(), table.clone());
        async move {
            dynamo
                .get_item()
                .table_name(&table)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(salt_key(day)),
                )
                .send()
                .await
                .unwrap()
                .item
        }
    };
    let day1: chrono::DateTime<chrono::Utc> = "2026-03-10T09:00:00Z".parse().unwrap();
    let (one, two) = (
        DynamoSalts::new(dynamo.clone(), table.clone()),
        DynamoSalts::new(dynamo.clone(), table.clone()),
    );
    // Two containers agree on the day's salt: the second reads what the first made.
    let a = one.day_salts(day1).await.unwrap();
    let b = two.day_salts(day1).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.0.len(), 2, "yesterday's and today's");
    let today = day1.date_naive();
    let item = stored(today).await.expect("today's salt is kept");
    let expiry: chrono::DateTime<chrono::Utc> = "2026-03-12T00:00:00Z".parse().unwrap();
    assert_eq!(
        item["expires_at"].as_n().unwrap(),
        &expiry.timestamp().to_string(),
        "48 hours after the day began"
    );
    // The next day: yesterday's salt is the one of before, today's is new.
    let day2 = day1 + chrono::Duration::days(1);
    let c = one.day_salts(day2).await.unwrap();
    assert_eq!(c.salt_of(day1), a.salt_of(day1));
    assert_ne!(c.salt_of(day2), a.salt_of(day1));
    // Two days on: the first day's salt is gone from the table, and no container keeps it.
    let day3 = day1 + chrono::Duration::days(2);
    let d = two.day_salts(day3).await.unwrap();
    assert!(
        stored(today).await.is_none(),
        "the salt outlived its window"
    );
    assert!(d.salt_of(day1).is_none());
    assert_eq!(d.salt_of(day2), c.salt_of(day2));
}
