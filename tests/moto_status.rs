//! `tally status --aws` against moto (CloudFormation, CloudWatch and SQS in server mode), with the
//! home region apart from us-east-1: the stacks in both regions (deployed or not), the last
//! hour's sums of Tally's metrics and of the enrichment's executions (a data point older than
//! the hour left out), every queue's depth with work queues told apart, and the alarms not OK;
//! the command exits 1 while something needs looking at and 0 when nothing does.
//!
//! Tally's metrics (namespace `Tally`, dimension `Function`) are not per deployment: this binary
//! is the only test that writes them to moto, so the sums are this test's own.
//!
//! moto does not evaluate alarms: their states are set with `SetAlarmState`, as a test of
//! CloudWatch's own would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StateValue, Statistic,
};
use aws_sdk_sqs::Client as Sqs;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use tally::aws_status::{Clients, RegionClients, Status, collect};

const HOME: &str = "eu-west-1";
const STATE_MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:x-enrich";

/// A stack named `name` holding one queue, with a `StateMachineArn` output.
async fn stack(config: &aws_config::SdkConfig, name: &str) {
    let template = json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"StateMachineArn": {"Value": STATE_MACHINE}}
    });
    aws_sdk_cloudformation::Client::new(config)
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
}

async fn queue_with(sqs: &Sqs, name: String, messages: usize, work: Option<&str>) -> String {
    let mut create = sqs.create_queue().queue_name(name);
    if let Some(dlq_arn) = work {
        let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5});
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = create.send().await.unwrap().queue_url.unwrap();
    for i in 0..messages {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("{{\"n\":{i}}}"))
            .send()
            .await
            .unwrap();
    }
    url
}

/// One data point of `namespace`/`name` with one dimension, `ago_s` seconds before now.
async fn point(
    cw: &CloudWatch,
    namespace: &str,
    name: &str,
    dim: (&str, &str),
    value: f64,
    ago_s: i64,
) {
    let now = chrono::Utc::now().timestamp();
    let datum = MetricDatum::builder()
        .metric_name(name)
        .dimensions(Dimension::builder().name(dim.0).value(dim.1).build())
        .value(value)
        .timestamp(DateTime::from_secs(now - ago_s))
        .build();
    cw.put_metric_data()
        .namespace(namespace)
        .metric_data(datum)
        .send()
        .await
        .unwrap();
}

async fn alarm(cw: &CloudWatch, name: &str, state: StateValue, reason: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .alarm_description(format!("{name} watched"))
        .namespace("AWS/SQS")
        .metric_name("ApproximateNumberOfMessagesVisible")
        .statistic(Statistic::Maximum)
        .period(300)
        .evaluation_periods(1)
        .threshold(0.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason(reason)
        .send()
        .await
        .unwrap();
}

async fn clients() -> Clients {
    let home = support::moto_config_in(HOME).await;
    let edge = support::moto_config_in("us-east-1").await;
    Clients {
        home: RegionClients::new(&home).unwrap(),
        edge: Some(RegionClients::new(&edge).unwrap()),
        sqs: Sqs::new(&home),
    }
}

/// A deployment with a bit of everything: two stacks, metrics in both regions, a failure queue
/// holding two messages, a busy work queue, an alarm firing and one OK.
async fn stage(prefix: &str) {
    let home = support::moto_config_in(HOME).await;
    let edge = support::moto_config_in("us-east-1").await;
    stack(&home, prefix).await;
    stack(&edge, &format!("{prefix}-edge")).await;
    let sqs = Sqs::new(&home);
    queue_with(&sqs, format!("{prefix}-FailedEventsQueue-F"), 2, None).await;
    let dlq = queue_with(&sqs, format!("{prefix}-CountersDeadLetterQueue-D"), 0, None).await;
    let dlq_arn = support::queue_arn(&sqs, &dlq).await;
    queue_with(&sqs, format!("{prefix}-CountersQueue-W"), 3, Some(&dlq_arn)).await;
    let (cw, cw_edge) = (CloudWatch::new(&home), CloudWatch::new(&edge));
    let function = |f| ("Function", f);
    point(&cw, "Tally", "Views", function("counters"), 4.0, 600).await;
    point(&cw, "Tally", "Views", function("counters"), 3.0, 60).await;
    point(&cw, "Tally", "Views", function("counters"), 100.0, 7200).await;
    point(&cw, "Tally", "Failed", function("counters"), 1.0, 60).await;
    point(&cw_edge, "Tally", "Views", function("edge"), 5.0, 60).await;
    point(
        &cw,
        "AWS/States",
        "ExecutionsStarted",
        ("StateMachineArn", STATE_MACHINE),
        9.0,
        60,
    )
    .await;
    alarm(
        &cw,
        &format!("{prefix}-CountersQueueAgeAlarm-A"),
        StateValue::Alarm,
        "oldest message 2000 s",
    )
    .await;
    alarm(
        &cw,
        &format!("{prefix}-ArchiveStreamDeliveryAlarm-B"),
        StateValue::Ok,
        "fine",
    )
    .await;
    alarm(
        &cw,
        &format!("other{prefix}-X-C"),
        StateValue::Alarm,
        "not ours",
    )
    .await;
}

fn assert_stacks(status: &Status, prefix: &str) {
    let stack = |name: String| status.stacks.iter().find(|s| s.name == name).unwrap();
    let pipeline = stack(prefix.to_owned());
    assert_eq!(
        (pipeline.region.as_str(), pipeline.status.as_deref()),
        (HOME, Some("CREATE_COMPLETE"))
    );
    assert_eq!(pipeline.outputs["StateMachineArn"], STATE_MACHINE);
    let edge = stack(format!("{prefix}-edge"));
    assert_eq!(
        (edge.region.as_str(), edge.status.as_deref()),
        ("us-east-1", Some("CREATE_COMPLETE"))
    );
    assert_eq!(stack(format!("{prefix}-site")).status, None);
    assert_eq!(stack(format!("{prefix}-standard-logs")).region, HOME);
}

fn assert_counts(status: &Status) {
    let counts = |f: &str, r: &str| {
        let c = status
            .counts
            .iter()
            .find(|c| c.function == f && c.region == r)
            .unwrap();
        (c.views, c.skipped, c.failed)
    };
    assert_eq!(
        counts("counters", HOME),
        (Some(7.0), None, Some(1.0)),
        "the hour's sum, not the older point"
    );
    assert_eq!(counts("edge", "us-east-1"), (Some(5.0), None, None));
    assert_eq!(counts("edge", HOME), (None, None, None));
    let executions = status.executions.as_ref().unwrap();
    assert_eq!((executions.started, executions.failed), (Some(9.0), None));
}

fn assert_queues_and_alarms(status: &Status, prefix: &str) {
    let depth = |name: String| {
        let q = status.queues.iter().find(|q| q.name == name).unwrap();
        (q.messages, q.work_queue)
    };
    assert_eq!(depth(format!("{prefix}-FailedEventsQueue-F")), (2, false));
    assert_eq!(depth(format!("{prefix}-CountersQueue-W")), (3, true));
    assert_eq!(
        depth(format!("{prefix}-CountersDeadLetterQueue-D")),
        (0, false)
    );
    let mut alarms: Vec<_> = status
        .alarms
        .iter()
        .map(|a| (a.name.clone(), a.state.clone()))
        .collect();
    alarms.sort();
    assert_eq!(
        alarms,
        [
            (
                format!("{prefix}-ArchiveStreamDeliveryAlarm-B"),
                "OK".to_owned()
            ),
            (
                format!("{prefix}-CountersQueueAgeAlarm-A"),
                "ALARM".to_owned()
            ),
        ]
    );
    let problems = status.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("CountersQueueAgeAlarm")
            && problems[0].contains("oldest message 2000 s")
    );
    assert!(problems[1].starts_with(&format!("{prefix}-FailedEventsQueue-F holds 2 message(s)")));
}

/// `tally status --aws` for `prefix` against moto, in `region` (`None`: no region anywhere):
/// its exit code, stdout and stderr.
fn tally_status(prefix: &str, region: Option<&str>) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    command
        .args([
            "status",
            "--aws",
            "--stack-prefix",
            prefix,
            "--endpoint-url",
        ])
        .arg(support::moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    match region {
        Some(region) => command.env("AWS_REGION", region),
        None => command.env_remove("AWS_REGION"),
    };
    let out = command.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn assert_exit_codes(prefix: &str) {
    let (code, stdout, stderr) = tally_status(prefix, Some(HOME));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let alarm = format!("{prefix}-CountersQueueAgeAlarm-A");
    assert!(stdout.contains(&alarm), "{stdout}");

    let (code, _, stderr) = tally_status(prefix, None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no AWS region: set AWS_REGION"), "{stderr}");

    let (code, stdout, stderr) = tally_status(&support::unique("sq"), Some(HOME));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let quiet = stdout.contains("stacks: 0 of 7 deployed") && stdout.contains("all well");
    assert!(quiet, "{stdout}");
}

/// One test, not several: Tally's metrics have no per-deployment dimension, so two stagings in
/// one region would add up.
#[tokio::test]
async fn one_screen_of_stacks_counts_queues_and_alarms_and_the_exit_code() {
    let prefix = support::unique("st");
    stage(&prefix).await;
    let now = chrono::Utc::now().timestamp();
    let status = collect(&clients().await, &prefix, now).await.unwrap();
    assert_stacks(&status, &prefix);
    assert_counts(&status);
    assert_queues_and_alarms(&status, &prefix);
    let screen = status.screen();
    assert!(screen.contains("stacks: 2 of 7 deployed"), "{screen}");
    assert!(screen.contains("needs looking at:"), "{screen}");
    assert_exit_codes(&prefix);
}
