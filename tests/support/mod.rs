//! Shared helpers for the tests that cross the AWS boundary: clients for the moto server that
//! `./tests/run` starts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::Credentials;

/// The moto server's endpoint; a test that needs it fails, saying how to get one.
pub fn moto_endpoint() -> String {
    std::env::var("TALLY_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "this test needs the moto server: run it through ./tests/run, which installs and \
             starts moto and sets TALLY_MOTO_ENDPOINT"
        )
    })
}

/// SDK configuration for moto: its endpoint, a fixed region and dummy credentials.
pub async fn moto_config() -> SdkConfig {
    moto_config_in("us-east-1").await
}

/// SDK configuration for moto in one region.
pub async fn moto_config_in(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A name no other test uses, so tests can share one moto server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    attributes.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone()
}

/// Creates a rule with `pattern` on `bus` whose target is a new SQS queue named `queue`; returns
/// the queue's URL. moto routes matching events to the queue as EventBridge would.
pub async fn rule_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    rule: &str,
    pattern: &serde_json::Value,
    queue: &str,
) -> String {
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = queue_arn(sqs, &url).await;
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("q")
        .arn(arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    url
}

/// Creates `state-machines/enrich.asl.json` in moto as an Express state machine named `name`,
/// putting onto the bus `bus`; returns its ARN.
pub async fn create_enrich_machine(sfn: &aws_sdk_sfn::Client, name: &str, bus: &str) -> String {
    let path = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("state-machines/enrich.asl.json");
    let definition = std::fs::read_to_string(path)
        .unwrap()
        .replace("${EventBusName}", bus);
    sfn.create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/enrich")
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

/// A rule target's dead letter as EventBridge writes it to the target's dead-letter queue: the
/// event as the body; the rule, the target and why (error code, message) as message attributes.
pub async fn send_rule_dead_letter(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    event: &serde_json::Value,
    (rule_arn, target_arn): (&str, &str),
    (code, message): (&str, &str),
) {
    let attr = |v: &str| {
        aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    };
    sqs.send_message()
        .queue_url(url)
        .message_body(event.to_string())
        .message_attributes("RULE_ARN", attr(rule_arn))
        .message_attributes("TARGET_ARN", attr(target_arn))
        .message_attributes("ERROR_CODE", attr(code))
        .message_attributes("ERROR_MESSAGE", attr(message))
        .send()
        .await
        .unwrap();
}
