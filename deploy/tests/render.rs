//! Rendering from declarations the workspace does not have yet, and the lints' failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use tally_archive::{ArchiveConfig, ArchiveConsumer};
use tally_consumer::{Declaration, Retry, RuleDeclaration, TargetKind};
use tally_deploy::{ArchiveSpec, DeployError, Options, Sources, lint, render, rule_logical_id};

fn read(path: &str) -> String {
    fs::read_to_string(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path),
    )
    .unwrap()
}

fn rule(name: &str, target: TargetKind) -> RuleDeclaration {
    RuleDeclaration {
        name: name.into(),
        pattern: json!({"source": ["tally"], "detail-type": ["PageView.Failed"]}),
        target,
        input: None,
        input_path: None,
        input_transformer: None,
        retry: Retry::default(),
    }
}

fn sources(extra: Vec<Declaration>) -> Sources {
    let mut declarations = vec![ArchiveConsumer::declaration()];
    declarations.extend(extra);
    Sources {
        declarations,
        state_machine: read("state-machines/enrich.asl.json"),
        glue_table: read("consumers/athena/table.json"),
        named_queries: vec![],
        registry_schema: "{}".into(),
        archive: ArchiveSpec::from_config(&ArchiveConfig::new("")),
        realtime_fields: tally_logs::REALTIME_FIELDS.map(String::from).to_vec(),
    }
}

#[test]
fn a_new_sqs_consumer_appears_with_its_queue_dead_letter_queue_and_policies() {
    let failed = Declaration {
        name: "failed-views".into(),
        description: "PageView.Failed events, for inspection".into(),
        rules: vec![RuleDeclaration {
            input_path: Some("$.detail".into()),
            retry: Retry {
                maximum_retry_attempts: 3,
                maximum_event_age_in_seconds: 3600,
            },
            ..rule(
                "failed",
                TargetKind::Sqs {
                    queue: "FailedViewsQueue".into(),
                },
            )
        }],
    };
    let t = render(&sources(vec![failed]), &Options::default()).unwrap();
    let r = &t.pipeline["Resources"];
    let id = rule_logical_id("failed-views", "failed");
    assert_eq!(id, "FailedViewsFailedRule");
    let p = &r[&id]["Properties"];
    assert_eq!(p["Name"], "failed-views-failed");
    assert_eq!(p["EventPattern"]["detail-type"], json!(["PageView.Failed"]));
    let target = &p["Targets"][0];
    assert_eq!(
        target["Arn"],
        json!({"Fn::GetAtt": ["FailedViewsQueue", "Arn"]})
    );
    assert_eq!(target["InputPath"], "$.detail");
    assert_eq!(
        target["RetryPolicy"],
        json!({"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600})
    );
    assert_eq!(
        target["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["FailedViewsFailedDeadLetterQueue", "Arn"]})
    );
    assert_eq!(r["FailedViewsQueue"]["Type"], "AWS::SQS::Queue");
    assert_eq!(
        r["FailedViewsFailedDeadLetterQueue"]["Type"],
        "AWS::SQS::Queue"
    );
    let policy = &r["FailedViewsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Action"], "sqs:SendMessage");
    assert_eq!(
        policy["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"Fn::GetAtt": [id, "Arn"]})
    );
    assert!(lint::iam(&t.pipeline).is_empty());
}

#[test]
fn a_target_the_template_cannot_make_is_a_clear_error() {
    let d = Declaration {
        name: "search".into(),
        description: "a search index".into(),
        rules: vec![rule(
            "index",
            TargetKind::Lambda {
                function: "SearchFunction".into(),
            },
        )],
    };
    let err = render(&sources(vec![d]), &Options::default()).unwrap_err();
    assert!(matches!(err, DeployError::UnknownTarget { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("\"SearchFunction\"") && text.contains("CountersFunction"),
        "{text}"
    );
}

#[test]
fn two_rules_making_the_same_resource_are_refused() {
    let d = Declaration {
        name: "archive".into(),
        description: "a second archive".into(),
        rules: vec![rule("page-views", TargetKind::Sqs { queue: "Q".into() })],
    };
    let err = render(&sources(vec![d]), &Options::default()).unwrap_err();
    assert!(matches!(err, DeployError::Duplicate(_)), "{err}");
}

fn role_with(statement: Value) -> Value {
    json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {},
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}]
    }}}})
}

#[test]
fn the_iam_lint_rejects_wildcards() {
    let cases = [
        json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}),
        json!({"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": "arn:aws:s3:::b"}),
        json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        json!({"Effect": "Allow", "Action": "s3:Get*", "Resource": ["arn:aws:s3:::b", "*"]}),
        json!({"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": "arn:aws:s3:::b"}),
        json!({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b"}),
    ];
    for statement in cases {
        let problems = lint::iam(&role_with(statement.clone()));
        assert!(!problems.is_empty(), "accepted {statement}");
    }
    // What AWS requires on "*", and a Deny, pass.
    let ok = [
        json!({"Effect": "Allow", "Action": "logs:CreateLogDelivery", "Resource": "*"}),
        json!({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}),
    ];
    for statement in ok {
        assert_eq!(
            lint::iam(&role_with(statement.clone())),
            vec![],
            "{statement}"
        );
    }
    // Managed policies cannot be checked.
    let managed = json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]
    }}}});
    assert_eq!(lint::iam(&managed).len(), 1);
    // Queue and bucket policies are checked too.
    let queue = json!({"Resources": {"P": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    }}}});
    assert_eq!(lint::iam(&queue).len(), 2);
}

#[test]
fn the_firehose_lint_rejects_a_stream_without_newlines_or_buffering() {
    let s = sources(vec![]);
    let t = render(&s, &Options::default()).unwrap();
    assert_eq!(lint::firehose(&t.pipeline, &s.archive), vec![]);
    let mut broken = t.pipeline.clone();
    let dest = &mut broken["Resources"]["ArchiveStream"]["Properties"]["ExtendedS3DestinationConfiguration"];
    dest.as_object_mut()
        .unwrap()
        .remove("ProcessingConfiguration");
    dest["BufferingHints"]["IntervalInSeconds"] = json!(900);
    dest["ErrorOutputPrefix"] = json!("errors/");
    let problems = lint::firehose(&broken, &s.archive);
    assert_eq!(problems.len(), 3, "{problems:?}");
    // A layout with another prefix makes the rendered stream follow it.
    let mut other = s.clone();
    other.archive.layout.prefix = "raw/".into();
    let t = render(&other, &Options::default()).unwrap();
    assert_eq!(lint::firehose(&t.pipeline, &other.archive), vec![]);
    assert_eq!(lint::firehose(&t.pipeline, &s.archive).len(), 1);
}

#[test]
fn the_retention_parameter_drives_the_lifecycle_the_bus_archive_and_the_counters() {
    let t = render(
        &sources(vec![]),
        &Options {
            retention_days: 10,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(t.pipeline["Parameters"]["RetentionDays"]["Default"], 10);
    let rules =
        &t.pipeline["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"];
    assert_eq!(rules[0]["Prefix"], "events/");
    assert_eq!(
        rules[0]["ExpirationInDays"],
        json!({"Ref": "RetentionDays"})
    );
    assert_eq!(
        t.pipeline["Resources"]["EventBusArchive"]["Properties"]["RetentionDays"],
        json!({"Ref": "RetentionDays"})
    );
    // Queues keep no message longer than the retention (SQS's 14 days when it is longer).
    let queues: Vec<&Value> = t.pipeline["Resources"]
        .as_object()
        .unwrap()
        .values()
        .chain(t.realtime_logs["Resources"].as_object().unwrap().values())
        .filter(|r| r["Type"] == "AWS::SQS::Queue")
        .collect();
    assert!(queues.len() > 3);
    for q in &queues {
        assert_eq!(
            q["Properties"]["MessageRetentionPeriod"],
            10 * 86_400,
            "{q}"
        );
    }
    // Log groups (the enrichment's holds page views) likewise: 7 days, the longest allowed
    // within 10.
    let groups: Vec<&Value> = t.pipeline["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Logs::LogGroup")
        .collect();
    assert!(!groups.is_empty());
    for g in &groups {
        assert_eq!(g["Properties"]["RetentionInDays"], 7, "{g}");
    }
    let long = render(&sources(vec![]), &Options::default()).unwrap();
    assert_eq!(
        long.pipeline["Resources"]["EnrichLogGroup"]["Properties"]["RetentionInDays"],
        14
    );
    let q =
        long.pipeline["Resources"]["CountersQueue"]["Properties"]["MessageRetentionPeriod"].clone();
    assert_eq!(q, 14 * 86_400, "a 400-day retention: SQS's longest");
    // The counters' day counts expire with it (the function sets the TTL from it).
    assert_eq!(
        t.pipeline["Resources"]["CountersFunction"]["Properties"]["Environment"]["Variables"]["TALLY_RETENTION_DAYS"],
        json!({"Ref": "RetentionDays"})
    );
}
