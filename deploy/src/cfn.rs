//! CloudFormation building blocks shared by the templates.

use serde_json::{Value, json};

/// Fourteen days, SQS's longest retention.
pub(crate) const QUEUE_RETENTION_SECONDS: u32 = 1_209_600;

/// Every queue of `template` keeps its messages (failed page views, dead letters) no longer
/// than the retention: SQS's fourteen days, or `retention_days` when shorter.
pub(crate) fn cap_queue_retention(template: &mut Value, retention_days: u32) {
    let cap = u64::from(retention_days)
        .saturating_mul(86_400)
        .clamp(60, u64::from(QUEUE_RETENTION_SECONDS));
    let Some(resources) = template["Resources"].as_object_mut() else {
        return;
    };
    for resource in resources.values_mut() {
        if resource["Type"] == "AWS::SQS::Queue" {
            resource["Properties"]["MessageRetentionPeriod"] = json!(cap);
        }
    }
}

/// Every log group of `template` keeps its events (the enrichment's holds page views) no longer
/// than the retention: its own setting, or the longest CloudWatch Logs allows within
/// `retention_days` when that is shorter.
pub(crate) fn cap_log_retention(template: &mut Value, retention_days: u32) {
    const ALLOWED: [u64; 5] = [1, 3, 5, 7, 14];
    let Some(resources) = template["Resources"].as_object_mut() else {
        return;
    };
    for resource in resources.values_mut() {
        if resource["Type"] != "AWS::Logs::LogGroup" {
            continue;
        }
        let days = &mut resource["Properties"]["RetentionInDays"];
        let Some(own) = days.as_u64() else { continue };
        if own > u64::from(retention_days) {
            let cap = ALLOWED
                .iter()
                .copied()
                .filter(|d| *d <= u64::from(retention_days))
                .max()
                .unwrap_or(1);
            *days = json!(cap);
        }
    }
}

/// `{"Fn::Sub": text}`.
pub(crate) fn sub(text: &str) -> Value {
    json!({"Fn::Sub": text})
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub(crate) fn get_att(id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [id, attribute]})
}

/// `{"Ref": id}`.
pub(crate) fn reference(id: &str) -> Value {
    json!({"Ref": id})
}

/// `{"Fn::If": [condition, then, otherwise]}`.
pub(crate) fn if_else(condition: &str, then: Value, otherwise: Value) -> Value {
    json!({"Fn::If": [condition, then, otherwise]})
}

/// `then` when `condition` holds, else the property is left out.
pub(crate) fn only_if(condition: &str, then: Value) -> Value {
    if_else(condition, then, reference("AWS::NoValue"))
}

/// A condition that holds when parameter `name` is not empty.
pub(crate) fn not_empty(name: &str) -> Value {
    json!({"Fn::Not": [{"Fn::Equals": [reference(name), ""]}]})
}

/// A trust policy for `service`, with the confused-deputy condition that service documents
/// (`aws:SourceAccount` for Step Functions, `sts:ExternalId` = the account for Firehose; none for
/// Lambda execution roles, which get no such condition from Lambda).
pub(crate) fn trust(service: &str) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole"
    });
    let account = reference("AWS::AccountId");
    match service {
        "states.amazonaws.com" => {
            statement["Condition"] = json!({"StringEquals": {"aws:SourceAccount": account}});
        }
        "firehose.amazonaws.com" => {
            statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": account}});
        }
        _ => {}
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

/// An inline policy of a role.
pub(crate) fn policy(name: &str, statements: Value) -> Value {
    json!({"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}})
}

/// One `Allow` statement.
pub(crate) fn allow(actions: &[&str], resource: Value) -> Value {
    json!({"Effect": "Allow", "Action": actions, "Resource": resource})
}

/// An encrypted SQS queue keeping messages 14 days; `purpose` goes into its tags (queues have
/// no description).
pub(crate) fn queue(purpose: &str) -> Value {
    json!({
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
            "SqsManagedSseEnabled": true,
            "Tags": [{"Key": "tally:purpose", "Value": purpose}]
        }
    })
}

/// Public access blocked in every way.
pub(crate) fn public_access_blocked() -> Value {
    json!({
        "BlockPublicAcls": true,
        "BlockPublicPolicy": true,
        "IgnorePublicAcls": true,
        "RestrictPublicBuckets": true
    })
}

/// SSE-S3 with a bucket key.
pub(crate) fn bucket_encryption() -> Value {
    json!({"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": true}
    ]})
}

/// The statement denying every request to `bucket` (an ARN and its objects' ARN) without TLS.
pub(crate) fn tls_only(bucket_arn: Value, objects_arn: Value) -> Value {
    json!({
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [bucket_arn, objects_arn],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    })
}

/// A whole template.
pub(crate) fn template(
    description: &str,
    parameters: Value,
    resources: Value,
    outputs: Value,
) -> Value {
    let mut t = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
        "Resources": resources,
        "Outputs": outputs
    });
    if parameters.as_object().is_some_and(|p| !p.is_empty()) {
        t["Parameters"] = parameters;
    }
    t
}
