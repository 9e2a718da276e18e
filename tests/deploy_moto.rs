//! `tally deploy`'s stack deployment against moto's CloudFormation and S3: the artifacts stack
//! created, then left unchanged; a package uploaded; the pipeline stack's rules and queues
//! created from the rendered template (needs `./tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_s3::Client as S3;
use serde_json::{Value, json};
use tally::cmd::deploy::sources;
use tally::cmd::deploy_aws::{artifacts_template, deploy_stack, upload};
use tally_deploy::Options;

const POLL: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread")]
async fn the_artifacts_stack_is_created_then_left_unchanged() {
    let config = support::moto_config().await;
    let (cfn, s3) = (Cfn::new(&config), S3::new(&config));
    let name = support::unique("tally-artifacts");
    let out = deploy_stack(&cfn, None, &name, &artifacts_template(), &[], POLL)
        .await
        .unwrap();
    let bucket = out["BucketName"].clone();
    upload(&s3, &bucket, "counters/abc.zip", b"zip".to_vec())
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("counters/abc.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"zip"
    );
    // The same template again: nothing to update, same outputs.
    let again = deploy_stack(&cfn, None, &name, &artifacts_template(), &[], POLL)
        .await
        .unwrap();
    assert_eq!(again, out);
}

/// The rendered pipeline template with only what moto's CloudFormation creates: the bus, the
/// rules, the queues, the alarm topic and its subscription, and the queues' alarms.
fn moto_subset(template: &Value) -> Value {
    let keep = [
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
    ];
    let all = template["Resources"].as_object().unwrap();
    let queue_alarm = |r: &Value| {
        r["Type"] == "AWS::CloudWatch::Alarm"
            && r["Properties"]["Namespace"] == "AWS/SQS"
            && all.contains_key(
                r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
                    .as_str()
                    .unwrap(),
            )
    };
    let resources: serde_json::Map<String, Value> = all
        .iter()
        .filter(|(_, r)| keep.contains(&r["Type"].as_str().unwrap()) || queue_alarm(r))
        .map(|(k, r)| {
            let mut r = r.clone();
            // Targets point at resources outside the subset: keep each rule's dead-letter queue
            // as its target so the rule stays complete.
            if r["Type"] == "AWS::Events::Rule" {
                let dlq = r["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"].clone();
                r["Properties"]["Targets"] = json!([{"Id": "dlq", "Arn": dlq}]);
                // moto 5.2.5 resolves `Ref` of an EventBus to its object, not its name (a 500
                // in CreateStack): name the bus as the template names it, `${AWS::StackName}`.
                assert_eq!(r["Properties"]["EventBusName"], json!({"Ref": "EventBus"}));
                r["Properties"]["EventBusName"] = json!({"Fn::Sub": "${AWS::StackName}"});
                r["DependsOn"] = json!("EventBus");
            }
            (k.clone(), r)
        })
        .collect();
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"AlarmEmail": template["Parameters"]["AlarmEmail"]},
        "Conditions": template["Conditions"],
        "Resources": resources
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipelines_rules_are_created_on_the_bus() {
    let config = support::moto_config().await;
    let cfn = Cfn::new(&config);
    let templates = tally_deploy::render(&sources().unwrap(), &Options::default()).unwrap();
    let name = support::unique("tally-pipeline");
    let subset = moto_subset(&templates.pipeline);
    deploy_stack(
        &cfn,
        None,
        &name,
        &subset,
        &[("AlarmEmail", "ops@example.com".to_owned())],
        POLL,
    )
    .await
    .unwrap();
    // The stack, its queues' alarms and the e-mail subscription included, is created. moto 5.2.5
    // makes CloudFormation's alarms and subscriptions placeholders it cannot describe (no type,
    // no id; DescribeAlarms stays empty): which resource has which alarm is checked on the
    // template (`tests/deploy_templates.rs`), here only that the stack takes them.
    let created = cfn
        .list_stack_resources()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let created = created.stack_resource_summaries();
    assert_eq!(
        created.len(),
        subset["Resources"].as_object().unwrap().len()
    );
    let topics = created
        .iter()
        .filter(|r| r.resource_type() == Some("AWS::SNS::Topic"))
        .count();
    assert_eq!(topics, 1);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let rules = events
        .list_rules()
        .event_bus_name(&name)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = rules
        .rules()
        .iter()
        .filter_map(|r| r.name().map(str::to_owned))
        .collect();
    names.sort();
    let mut declared: Vec<String> = tally::local::declarations()
        .iter()
        .flat_map(|d| d.rule_names())
        .collect();
    declared.sort();
    assert_eq!(names, declared);
    for rule in rules.rules() {
        let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        let name = rule.name().unwrap();
        let declaration = tally::local::declarations()
            .into_iter()
            .flat_map(|d| {
                d.rules
                    .into_iter()
                    .map(move |r| (format!("{}-{}", d.name, r.name), r))
            })
            .find(|(n, _)| n == name)
            .unwrap();
        assert_eq!(pattern, declaration.1.pattern, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_id_key_is_made_once_per_deployment_and_kept() {
    use tally::cmd::deploy_keys::{KEY_OBJECT, event_id_key};
    let config = support::moto_config().await;
    let (cfn, s3) = (Cfn::new(&config), S3::new(&config));
    let name = support::unique("tally-keys");
    let out = deploy_stack(&cfn, None, &name, &artifacts_template(), &[], POLL)
        .await
        .unwrap();
    let bucket = &out["BucketName"];
    let first = event_id_key(&s3, bucket, None).await.unwrap();
    assert!(first.0.len() >= 32);
    let kept = s3
        .get_object()
        .bucket(bucket)
        .key(KEY_OBJECT)
        .send()
        .await
        .unwrap();
    let kept = kept.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        String::from_utf8_lossy(&kept),
        first.0,
        "the key is kept in the bucket"
    );
    // A later deploy reads the same key: the producers' ids do not change.
    assert_eq!(event_id_key(&s3, bucket, None).await.unwrap(), first);
    // The edge configuration's own key wins, and is not written.
    let own = tally_edge::Secret("an edge configuration's key, 32 bytes or more".into());
    assert_eq!(event_id_key(&s3, bucket, Some(&own)).await.unwrap(), own);
    assert_eq!(event_id_key(&s3, bucket, None).await.unwrap(), first);
    // Another deployment (another artifacts bucket) gets another key.
    let other = support::unique("tally-keys");
    let other = deploy_stack(&cfn, None, &other, &artifacts_template(), &[], POLL)
        .await
        .unwrap();
    assert_ne!(
        event_id_key(&s3, &other["BucketName"], None).await.unwrap(),
        first
    );
}
