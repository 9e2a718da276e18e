//! The producers: what turns CloudFront's requests into page views, one stack each.
//!
//! - [`Producer::RealtimeLogs`] (home region): CloudFront real-time logs → Kinesis → the
//!   real-time Lambda (`producers/realtime-lambda`);
//! - [`Producer::StandardLogs`] (home region): CloudFront standard logs → S3 → the standard-log
//!   Lambda (`producers/standard-logs-lambda`);
//! - [`Producer::Edge`] (us-east-1): the Lambda@Edge function on origin-response
//!   (`producers/edge-lambda`).
//!
//! Each stack's outputs are what the distribution (`site`) attaches to its page behaviours.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::cfn::{allow, get_att, policy, queue, reference, sub, trust};

pub(crate) mod edge;
pub(crate) mod realtime_logs;
pub(crate) mod standard_logs;

pub use edge::FORWARDED_HEADERS;

/// One way of counting page views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Producer {
    /// CloudFront real-time logs through Kinesis: seconds behind, every cache hit counted.
    RealtimeLogs,
    /// CloudFront standard logs through S3: minutes to an hour behind, free to deliver.
    StandardLogs,
    /// Lambda@Edge on origin-response: live, but pages cannot be cached.
    Edge,
}

impl Producer {
    /// Every producer, in the order stacks are deployed.
    pub const ALL: [Producer; 3] = [
        Producer::RealtimeLogs,
        Producer::StandardLogs,
        Producer::Edge,
    ];

    /// Its name on the command line, in the stack's name and in its template's file name.
    pub fn name(self) -> &'static str {
        match self {
            Producer::RealtimeLogs => "realtime-logs",
            Producer::StandardLogs => "standard-logs",
            Producer::Edge => "edge",
        }
    }
}

impl fmt::Display for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a producer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no producer {0:?}: realtime-logs, standard-logs or edge")]
pub struct UnknownProducer(pub String);

impl FromStr for Producer {
    type Err = UnknownProducer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Producer::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProducer(s.to_owned()))
    }
}

/// The failure queue both log producers send to: records that can never be views (with their
/// reason), and what Lambda gives up on (the event source mapping's or the asynchronous
/// invocation's on-failure destination).
pub(crate) const FAILURE_QUEUE: &str = "FailureQueue";
/// The producer Lambda, in both log stacks.
pub(crate) const FUNCTION: &str = "ProducerFunction";
const ROLE: &str = "ProducerRole";
const LOG_GROUP: &str = "ProducerLogGroup";

/// The parameters both log producers take.
pub(crate) fn log_producer_parameters(code: &str) -> Map<String, Value> {
    let v = json!({
        "AlarmTopicArn": {
            "Type": "String",
            "AllowedPattern": "^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$",
            "Description": "the topic the alarms notify (the pipeline stack's output AlarmTopicArn), in this region"
        },
        "StateMachineArn": {
            "Type": "String",
            "AllowedPattern": "^arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]+$",
            "Description": "the enrichment state machine (the pipeline stack's output StateMachineArn), in this region"
        },
        "ArtifactBucket": {
            "Type": "String",
            "Description": "the bucket holding the Lambda packages (tally deploy makes it)"
        },
        "CodeKey": {
            "Type": "String",
            "Description": format!("the key of the {code} zip (bootstrap, provided.al2023, arm64)")
        },
        "Site": {
            "Type": "String",
            "Default": "",
            "Description": "the site every view names; empty: each request's host"
        },
        "Drop": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^((city|region|timezone|language)(,(city|region|timezone|language))*)?$",
            "Description": "viewer details left out of every view, comma-separated (the edge configuration's minimise.drop)"
        },
        "TimePrecision": {
            "Type": "String",
            "Default": "millisecond",
            "AllowedValues": ["millisecond", "second", "minute", "hour"],
            "Description": "the precision of every view's time (the edge configuration's minimise.time_precision)"
        },
        "SaltsTable": {
            "Type": "String",
            "Default": "",
            "Description": "the visitor hash's daily salts (the pipeline stack's output SaltsTableName); empty: no visitor hash"
        },
        "EventIdKey": {
            "Type": "String",
            "Default": "",
            "NoEcho": true,
            "Description": "the deployment's event-id key (tally deploy passes it): every view's event id is a keyed hash of its request id; empty: the request id"
        }
    });
    v.as_object().cloned().unwrap_or_default()
}

/// What one log producer's Lambda is.
pub(crate) struct LambdaSpec<'a> {
    pub description: &'a str,
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// Environment beyond the state machine, failure queue and site.
    pub environment: Value,
    /// Statements beyond starting executions, sending failures and writing logs.
    pub statements: Vec<Value>,
}

/// The failure queue, the function, its role and its log group.
pub(crate) fn log_producer_lambda(spec: LambdaSpec<'_>, r: &mut Map<String, Value>) {
    r.insert(
        FAILURE_QUEUE.into(),
        queue("log producer failures: records that are never views and events Lambda gave up on"),
    );
    r.insert(
        LOG_GROUP.into(),
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": sub("/aws/lambda/${AWS::StackName}"), "RetentionInDays": 14}
        }),
    );
    let mut statements = vec![
        allow(&["states:StartExecution"], reference("StateMachineArn")),
        allow(&["sqs:SendMessage"], get_att(FAILURE_QUEUE, "Arn")),
        allow(
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
            sub(
                "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${SaltsTable}",
            ),
        ),
        allow(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            get_att(LOG_GROUP, "Arn"),
        ),
    ];
    statements.extend(spec.statements);
    r.insert(
        ROLE.into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "the log producer: read its source, start enrichment executions, send failures",
                "AssumeRolePolicyDocument": trust("lambda.amazonaws.com"),
                "Policies": [policy("produce", Value::Array(statements))]
            }
        }),
    );
    let mut environment = json!({
        "TALLY_STATE_MACHINE_ARN": reference("StateMachineArn"),
        "TALLY_FAILURE_QUEUE_URL": reference(FAILURE_QUEUE),
        "TALLY_SITE": reference("Site"),
        "TALLY_DROP": reference("Drop"),
        "TALLY_TIME_PRECISION": reference("TimePrecision"),
        "TALLY_EVENT_ID_KEY": reference("EventIdKey"),
        "TALLY_SALTS_TABLE": reference("SaltsTable")
    });
    if let (Some(env), Some(extra)) = (environment.as_object_mut(), spec.environment.as_object()) {
        env.extend(extra.clone());
    }
    r.insert(
        FUNCTION.into(),
        json!({
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": sub("${AWS::StackName}"),
                "Description": spec.description,
                "Runtime": "provided.al2023",
                "Architectures": ["arm64"],
                "Handler": "bootstrap",
                "MemorySize": spec.memory_mb,
                "Timeout": spec.timeout_s,
                "Role": get_att(ROLE, "Arn"),
                "Code": {"S3Bucket": reference("ArtifactBucket"), "S3Key": reference("CodeKey")},
                "Environment": {"Variables": environment},
                "LoggingConfig": {"LogGroup": reference(LOG_GROUP), "LogFormat": "JSON"}
            }
        }),
    );
}
