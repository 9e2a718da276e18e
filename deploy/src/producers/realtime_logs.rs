//! The real-time log producer's stack, in the home region: CloudFront real-time logs → a Kinesis
//! data stream → the real-time Lambda → the enrichment.

use serde_json::{Map, Value, json};

use super::{FAILURE_QUEUE, FUNCTION, LambdaSpec, log_producer_lambda, log_producer_parameters};
use crate::cfn::{allow, get_att, policy, reference, sub, template};
use crate::{Options, Sources};

/// The stream CloudFront writes to.
pub(crate) const STREAM: &str = "LogStream";
/// The real-time log configuration the distribution's page behaviours name.
pub(crate) const CONFIG: &str = "RealtimeLogConfig";
const CLOUDFRONT_ROLE: &str = "RealtimeLogRole";

/// Kinesis keeps records 24 hours; the event source mapping gives up on a record after 6, so
/// what fails reaches the failure queue long before the stream would drop it.
pub(crate) const MAXIMUM_RECORD_AGE_SECONDS: u32 = 6 * 3600;
/// Retries of a failing batch (each bisection halves it first).
pub(crate) const MAXIMUM_RETRY_ATTEMPTS: u32 = 5;

fn stream(r: &mut Map<String, Value>) {
    // Provisioned, one shard by default: 1,000 records/s (page requests only: the configuration
    // is attached to the page behaviours) for 0.015 USD an hour, where on-demand costs 0.04 USD
    // an hour per stream before any data. Raise ShardCount when page requests peak above that.
    r.insert(
        STREAM.into(),
        json!({
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "ShardCount": reference("ShardCount"),
                "RetentionPeriodHours": 24,
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
            }
        }),
    );
    r.insert(
        CLOUDFRONT_ROLE.into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "CloudFront real-time logs: put records on the one stream",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "sts:AssumeRole"
                }]},
                "Policies": [policy("put-records", json!([allow(
                    &["kinesis:DescribeStreamSummary", "kinesis:DescribeStream",
                      "kinesis:PutRecord", "kinesis:PutRecords"],
                    get_att(STREAM, "Arn")
                )]))]
            }
        }),
    );
}

fn log_config(fields: &[String], r: &mut Map<String, Value>) {
    r.insert(
        CONFIG.into(),
        json!({
            "Type": "AWS::CloudFront::RealtimeLogConfig",
            "Properties": {
                "Name": sub("${AWS::StackName}"),
                "SamplingRate": 100,
                "Fields": fields,
                "EndPoints": [{
                    "StreamType": "Kinesis",
                    "KinesisStreamConfig": {
                        "RoleArn": get_att(CLOUDFRONT_ROLE, "Arn"),
                        "StreamArn": get_att(STREAM, "Arn")
                    }
                }]
            }
        }),
    );
}

fn event_source_mapping(r: &mut Map<String, Value>) {
    r.insert(
        "LogStreamMapping".into(),
        json!({
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": get_att(STREAM, "Arn"),
                "FunctionName": reference(FUNCTION),
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 100,
                "MaximumBatchingWindowInSeconds": 5,
                "ParallelizationFactor": 1,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "BisectBatchOnFunctionError": true,
                "MaximumRetryAttempts": MAXIMUM_RETRY_ATTEMPTS,
                "MaximumRecordAgeInSeconds": MAXIMUM_RECORD_AGE_SECONDS,
                "DestinationConfig": {"OnFailure": {"Destination": get_att(FAILURE_QUEUE, "Arn")}}
            }
        }),
    );
}

/// The real-time log producer's template: the stream, the configuration whose `Fields` are
/// `sources.realtime_fields`, the Lambda reading by the same list, and its event source mapping.
pub(crate) fn render(sources: &Sources, _options: &Options) -> Value {
    let mut r = Map::new();
    stream(&mut r);
    log_config(&sources.realtime_fields, &mut r);
    log_producer_lambda(
        LambdaSpec {
            description: "tally real-time logs: Kinesis batches of CloudFront real-time log records to the enrichment",
            memory_mb: 128,
            timeout_s: 60,
            environment: json!({"TALLY_REALTIME_FIELDS": sources.realtime_fields.join(",")}),
            statements: vec![allow(
                &[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                get_att(STREAM, "Arn"),
            )],
        },
        &mut r,
    );
    event_source_mapping(&mut r);
    let mut parameters = log_producer_parameters("realtime-lambda");
    parameters.insert(
        "ShardCount".into(),
        json!({
            "Type": "Number",
            "Default": 1,
            "MinValue": 1,
            "Description": "shards of the log stream: each takes 1,000 page requests a second"
        }),
    );
    crate::alarms::add(&mut r, &reference("AlarmTopicArn"));
    template(
        "Tally real-time log producer (home region): CloudFront real-time logs to Kinesis, the real-time Lambda, its failure queue. Generated by `tally deploy --dry-run`: do not edit.",
        Value::Object(parameters),
        Value::Object(r),
        json!({
            "RealtimeLogConfigArn": {
                "Description": "attach to the distribution's page behaviours (the site stack does)",
                "Value": get_att(CONFIG, "Arn")
            },
            "LogStreamArn": {"Value": get_att(STREAM, "Arn")},
            "FailureQueueUrl": {"Value": reference(FAILURE_QUEUE)}
        }),
    )
}
