//! The counters in the pipeline stack: the table, the queue the counters' rule targets, its
//! dead-letter queue, the function and the event source mapping that feeds it batches.
//!
//! The rule puts each page view on `CountersQueue` (EventBridge's retries and the rule's own
//! dead-letter queue cover that put). Lambda polls the queue and invokes the function with
//! batches of up to [`BATCH_SIZE`] messages, synchronously; the function answers with the
//! messages it could not apply (`ReportBatchItemFailures`), which come back after the visibility
//! timeout. A message received [`MAX_RECEIVES`] times without being applied (a poison message,
//! or one whose writes kept failing) moves to `CountersDeadLetterQueue`, kept 14 days.

use serde_json::{Map, Value, json};

use crate::cfn::{get_att, policy, reference, sub, trust};

/// The counters' function.
pub(crate) const FUNCTION: &str = "CountersFunction";
/// The queue the counters' rule targets: the logical name the counters consumer declares.
pub(crate) const QUEUE: &str = "CountersQueue";
/// Where a message goes that could not be applied [`MAX_RECEIVES`] times.
pub(crate) const DEAD_LETTERS: &str = "CountersDeadLetterQueue";
/// The counters' table.
pub(crate) const TABLE: &str = "CountersTable";
/// The environment variable the counters' Lambda reads its table name from.
const TABLE_ENV: &str = "TALLY_COUNTERS_TABLE";
/// The environment variable the counters' Lambda reads the retention from: day counters expire
/// (DynamoDB's TTL) `RetentionDays` after their day.
const RETENTION_ENV: &str = "TALLY_RETENTION_DAYS";

/// The function's timeout, seconds.
const TIMEOUT_S: u32 = 30;
/// The most messages a batch holds.
pub(crate) const BATCH_SIZE: u32 = 100;
/// How long Lambda gathers a batch, seconds.
const BATCHING_WINDOW_S: u32 = 5;
/// How many times a message is received before it moves to the dead-letter queue.
pub(crate) const MAX_RECEIVES: u32 = 5;
/// The most concurrent batches: fewer concurrent transactions on the hot items (the minimum
/// SQS allows is 2).
const MAX_CONCURRENCY: u32 = 2;

/// Adds the counters' resources.
pub(crate) fn add(r: &mut Map<String, Value>) {
    r.insert(TABLE.into(), table());
    r.insert(
        "CountersLogGroup".into(),
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": sub("/aws/lambda/${AWS::StackName}-counters"), "RetentionInDays": 14}
        }),
    );
    r.insert("CountersRole".into(), role());
    queues(r);
    r.insert(FUNCTION.into(), function());
    r.insert(
        "CountersQueueMapping".into(),
        json!({
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": get_att(QUEUE, "Arn"),
                "FunctionName": reference(FUNCTION),
                "BatchSize": BATCH_SIZE,
                "MaximumBatchingWindowInSeconds": BATCHING_WINDOW_S,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": MAX_CONCURRENCY}
            }
        }),
    );
}

fn table() -> Value {
    json!({
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"}
            ],
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"}
            ],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": true},
            "SSESpecification": {"SSEEnabled": true},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}
        }
    })
}

fn role() -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "the counters Lambda: its table, its queue and its log group",
            "AssumeRolePolicyDocument": trust("lambda.amazonaws.com"),
            "Policies": [
                policy("table", json!([{
                    "Effect": "Allow",
                    "Action": ["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem",
                               "dynamodb:Query", "dynamodb:UpdateItem"],
                    "Resource": get_att(TABLE, "Arn")
                }])),
                policy("queue", json!([{
                    "Effect": "Allow",
                    "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                               "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    "Resource": get_att(QUEUE, "Arn")
                }])),
                policy("logs", json!([{
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": get_att("CountersLogGroup", "Arn")
                }]))
            ]
        }
    })
}

/// The work queue and its dead-letter queue. The visibility timeout is six times the function's
/// timeout plus the batching window, as Lambda's documentation asks of an SQS event source.
fn queues(r: &mut Map<String, Value>) {
    let mut queue = crate::cfn::queue("page views for the counters function in batches");
    queue["Properties"]["VisibilityTimeout"] = json!(6 * TIMEOUT_S + BATCHING_WINDOW_S);
    queue["Properties"]["RedrivePolicy"] = json!({
        "deadLetterTargetArn": get_att(DEAD_LETTERS, "Arn"),
        "maxReceiveCount": MAX_RECEIVES
    });
    r.insert(QUEUE.into(), queue);
    r.insert(
        DEAD_LETTERS.into(),
        crate::cfn::queue("page views the counters function could not apply in 5 receives"),
    );
}

fn function() -> Value {
    json!({
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": sub("${AWS::StackName}-counters"),
            "Description": "tally counters: batches of page-view events applied once each to the counters table",
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "MemorySize": 128,
            "Timeout": TIMEOUT_S,
            "Role": get_att("CountersRole", "Arn"),
            "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": {"Ref": "CountersCodeKey"}},
            "Environment": {"Variables": {TABLE_ENV: {"Ref": TABLE}, RETENTION_ENV: {"Ref": "RetentionDays"}}},
            "LoggingConfig": {"LogGroup": {"Ref": "CountersLogGroup"}, "LogFormat": "JSON"}
        }
    })
}
