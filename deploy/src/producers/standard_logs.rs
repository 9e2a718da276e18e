//! The standard-log producer's stack, in the home region: CloudFront standard logs (legacy
//! logging, W3C, gzipped) → the log bucket → an object-created notification → the standard-log
//! Lambda → the enrichment.

use serde_json::{Map, Value, json};

use super::{FAILURE_QUEUE, FUNCTION, LambdaSpec, log_producer_lambda, log_producer_parameters};
use crate::cfn::{
    allow, bucket_encryption, get_att, public_access_blocked, reference, sub, template, tls_only,
};
use crate::{Options, Sources};

/// The bucket CloudFront writes log objects to.
pub(crate) const BUCKET: &str = "LogBucket";
/// Where in the bucket the distribution writes (its `Logging.Prefix`), and what the
/// notification filters on.
pub const LOG_PREFIX: &str = "cloudfront/";
/// Days before a log object expires. S3 adds them to the object's creation time and rounds up
/// to the next midnight UTC, so an object is expired at most 48 hours after it was written (2
/// days would allow 72): the logs hold client IPs.
pub const EXPIRATION_DAYS: u32 = 1;
/// Asynchronous retries of a failed invocation (Lambda's maximum), each reading the object again.
pub(crate) const MAXIMUM_RETRY_ATTEMPTS: u32 = 2;
/// An event older than this goes to the failure queue without another try.
pub(crate) const MAXIMUM_EVENT_AGE_SECONDS: u32 = 6 * 3600;
const PERMISSION: &str = "LogBucketPermission";

/// The bucket's name, built rather than generated: the notification's permission must name the
/// bucket before the bucket exists (else the bucket, its notification and the permission form a
/// cycle). Stack names are lower-case for this reason.
const BUCKET_NAME: &str = "${AWS::StackName}-${AWS::AccountId}-${AWS::Region}";

fn bucket(r: &mut Map<String, Value>) {
    r.insert(
        BUCKET.into(),
        json!({
            "Type": "AWS::S3::Bucket",
            "DependsOn": PERMISSION,
            "Properties": {
                "BucketName": sub(BUCKET_NAME),
                "BucketEncryption": bucket_encryption(),
                "PublicAccessBlockConfiguration": public_access_blocked(),
                // Legacy standard logging writes through an ACL grant to CloudFront's
                // awslogsdelivery account, which BucketOwnerEnforced would refuse.
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "expire-logs", "Status": "Enabled", "ExpirationInDays": EXPIRATION_DAYS},
                    {"Id": "abort-incomplete-uploads", "Status": "Enabled",
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
                ]},
                "NotificationConfiguration": {"LambdaConfigurations": [{
                    "Event": "s3:ObjectCreated:*",
                    "Function": get_att(FUNCTION, "Arn"),
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": LOG_PREFIX}]}}
                }]}
            }
        }),
    );
    r.insert(
        "LogBucketPolicy".into(),
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference(BUCKET),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    tls_only(get_att(BUCKET, "Arn"), sub("${LogBucket.Arn}/*"))
                ]}
            }
        }),
    );
}

fn invocation(r: &mut Map<String, Value>) {
    r.insert(
        PERMISSION.into(),
        json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": get_att(FUNCTION, "Arn"),
                "Principal": "s3.amazonaws.com",
                "SourceArn": sub(&format!("arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}")),
                "SourceAccount": reference("AWS::AccountId")
            }
        }),
    );
    r.insert(
        "ProducerInvokeConfig".into(),
        json!({
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": reference(FUNCTION),
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": MAXIMUM_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": MAXIMUM_EVENT_AGE_SECONDS,
                "DestinationConfig": {"OnFailure": {"Destination": get_att(FAILURE_QUEUE, "Arn")}}
            }
        }),
    );
}

/// The standard-log producer's template.
pub(crate) fn render(_sources: &Sources, _options: &Options) -> Value {
    let mut r = Map::new();
    log_producer_lambda(
        LambdaSpec {
            description: "tally standard logs: each CloudFront log object written to the log bucket, to the enrichment",
            memory_mb: 256,
            timeout_s: 300,
            environment: json!({"TALLY_LOG_FORMAT": "auto"}),
            statements: vec![allow(
                &["s3:GetObject"],
                sub(&format!(
                    "arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}/{LOG_PREFIX}*"
                )),
            )],
        },
        &mut r,
    );
    invocation(&mut r);
    bucket(&mut r);
    crate::alarms::add(&mut r, &reference("AlarmTopicArn"));
    template(
        "Tally standard-log producer (home region): the CloudFront log bucket (objects expire within 48 hours), the standard-log Lambda, its failure queue. Generated by `tally deploy --dry-run`: do not edit.",
        Value::Object(log_producer_parameters("standard-logs-lambda")),
        Value::Object(r),
        json!({
            "LogBucketDomainName": {
                "Description": "the distribution's Logging.Bucket (the site stack sets it)",
                "Value": get_att(BUCKET, "DomainName")
            },
            "LogBucketName": {"Value": reference(BUCKET)},
            "FailureQueueUrl": {"Value": reference(FAILURE_QUEUE)}
        }),
    )
}
