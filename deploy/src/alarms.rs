//! CloudWatch alarms on every failure place of a template, wired to the alarm topic: each queue's
//! depth (dead letters, failures, last resort: a message there is a view that needs looking at),
//! or, for a work queue (one with a redrive policy: its messages are consumed, its failures move
//! on to its dead-letter queue), the age of its oldest message; each function's errors, the
//! state machine's failed executions and the archive stream's delivery. Added by walking the
//! template, so a queue or function added later gets its alarm.

use serde_json::{Map, Value, json};

use crate::cfn::{get_att, not_empty, reference, sub};

/// The pipeline's SNS topic every alarm notifies.
pub(crate) const TOPIC: &str = "AlarmTopic";
/// The parameter subscribing an address to the topic (empty: no subscription).
const EMAIL: &str = "AlarmEmail";
/// The condition of the subscription.
const HAS_EMAIL: &str = "HasAlarmEmail";

/// Five minutes: every alarm's period.
const PERIOD: u32 = 300;

/// Seconds a work queue's oldest message may wait before its alarm fires: far more than a
/// batching window and a few visibility timeouts, so only a consumer that stopped reaches it.
const WORK_QUEUE_AGE_S: u32 = 1800;

/// The topic, the optional e-mail subscription, its parameter and condition.
pub(crate) fn topic(
    parameters: &mut Map<String, Value>,
    conditions: &mut Map<String, Value>,
    r: &mut Map<String, Value>,
) {
    parameters.insert(
        EMAIL.into(),
        json!({
            "Type": "String",
            "Default": "",
            "Description": "an address the alarms are sent to (tally deploy --alarm-email); empty: none, subscribe to the AlarmTopicArn output yourself"
        }),
    );
    conditions.insert(HAS_EMAIL.into(), not_empty(EMAIL));
    r.insert(
        TOPIC.into(),
        json!({
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": sub("tally ${AWS::StackName} alarms")}
        }),
    );
    r.insert(
        "AlarmEmailSubscription".into(),
        json!({
            "Type": "AWS::SNS::Subscription",
            "Condition": HAS_EMAIL,
            "Properties": {"TopicArn": reference(TOPIC), "Protocol": "email", "Endpoint": reference(EMAIL)}
        }),
    );
}

/// One alarm on `metric` of `namespace` for one resource.
struct Metric<'a> {
    namespace: &'a str,
    name: &'a str,
    dimension: (&'a str, Value),
    statistic: &'a str,
    comparison: &'a str,
    threshold: u32,
    what: String,
}

fn alarm(m: Metric<'_>, topic: &Value) -> Value {
    json!({
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": m.what,
            "Namespace": m.namespace,
            "MetricName": m.name,
            "Dimensions": [{"Name": m.dimension.0, "Value": m.dimension.1}],
            "Statistic": m.statistic,
            "Period": PERIOD,
            "EvaluationPeriods": 1,
            "Threshold": m.threshold,
            "ComparisonOperator": m.comparison,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [topic],
            "OKActions": [topic]
        }
    })
}

/// The alarms of resource `id`, by its type: `(logical id suffix, metric)`.
fn metrics<'a>(id: &str, resource: &Value) -> Vec<(&'static str, Metric<'a>)> {
    let kind = resource["Type"].as_str().unwrap_or_default();
    let above_zero = |namespace, name, dimension, statistic, what: String| Metric {
        namespace,
        name,
        dimension,
        statistic,
        comparison: "GreaterThanThreshold",
        threshold: 0,
        what,
    };
    let work_queue = !resource["Properties"]["RedrivePolicy"].is_null();
    match kind {
        "AWS::SQS::Queue" if work_queue => vec![(
            "AgeAlarm",
            Metric {
                threshold: WORK_QUEUE_AGE_S,
                ..above_zero(
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    ("QueueName", get_att(id, "QueueName")),
                    "Maximum",
                    format!(
                        "{id} is not being consumed: its oldest message waits for more than 30 minutes"
                    ),
                )
            },
        )],
        "AWS::SQS::Queue" => vec![(
            "DepthAlarm",
            above_zero(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                ("QueueName", get_att(id, "QueueName")),
                "Maximum",
                format!("{id} holds messages: failed events with their reason"),
            ),
        )],
        "AWS::Lambda::Function" => vec![(
            "ErrorsAlarm",
            above_zero(
                "AWS/Lambda",
                "Errors",
                ("FunctionName", reference(id)),
                "Sum",
                format!("{id} failed invocations"),
            ),
        )],
        "AWS::StepFunctions::StateMachine" => vec![(
            "FailedAlarm",
            above_zero(
                "AWS/States",
                "ExecutionsFailed",
                ("StateMachineArn", reference(id)),
                "Sum",
                format!("{id} executions failed: dead-lettered or in the last resort"),
            ),
        )],
        "AWS::KinesisFirehose::DeliveryStream" => vec![
            (
                "DeliveryAlarm",
                Metric {
                    comparison: "LessThanThreshold",
                    threshold: 1,
                    ..above_zero(
                        "AWS/Firehose",
                        "DeliveryToS3.Success",
                        ("DeliveryStreamName", reference(id)),
                        "Minimum",
                        format!("{id} failed S3 puts (it retries, then writes errors/)"),
                    )
                },
            ),
            (
                "FreshnessAlarm",
                Metric {
                    threshold: 900,
                    ..above_zero(
                        "AWS/Firehose",
                        "DeliveryToS3.DataFreshness",
                        ("DeliveryStreamName", reference(id)),
                        "Maximum",
                        format!("{id} holds records older than 15 minutes: delivery is failing"),
                    )
                },
            ),
        ],
        _ => Vec::new(),
    }
}

/// Adds an alarm notifying `topic` for every queue, function, state machine and delivery stream
/// in `r`.
pub(crate) fn add(r: &mut Map<String, Value>, topic: &Value) {
    let mut alarms = Vec::new();
    for (id, resource) in r.iter() {
        for (suffix, metric) in metrics(id, resource) {
            alarms.push((format!("{id}{suffix}"), alarm(metric, topic)));
        }
    }
    r.extend(alarms);
}
