//! Rules and targets, generated from the consumer declarations.
//!
//! Per rule `{consumer}-{rule}` on the bus: the `AWS::Events::Rule` with its one target (input
//! processing and retry policy as declared), an SQS dead-letter queue for that target and the
//! queue policy that lets the rule write to it. Per target kind:
//!
//! - `firehose`: a stream the pipeline defines; the rule gets a role allowed only
//!   `firehose:PutRecord(Batch)` on it;
//! - `lambda`: a function the pipeline defines; the rule gets a `AWS::Lambda::Permission`;
//! - `sqs`: a queue made here for any name (encrypted, 14 days), unless the pipeline defines it
//!   (`Known::sqs`: a consumer's work queue, with its redrive policy), with a policy per queue
//!   letting each of its rules send to it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tally_consumer::{Declaration, RuleDeclaration, TargetKind};

use crate::DeployError;
use crate::names::{is_logical_id, logical_id, rule_logical_id};

/// What the rest of the pipeline template defines, that targets may name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known<'a> {
    /// Firehose delivery streams, by logical id.
    pub firehose: &'a [&'a str],
    /// Lambda functions, by logical id.
    pub lambda: &'a [&'a str],
    /// SQS queues the pipeline defines itself (only their policy is made here), by logical id.
    pub sqs: &'a [&'a str],
}

/// Fourteen days, SQS's longest retention.
const QUEUE_RETENTION_SECONDS: u32 = 1_209_600;

fn insert(resources: &mut Map<String, Value>, id: String, value: Value) -> Result<(), DeployError> {
    if resources.contains_key(&id) {
        return Err(DeployError::Duplicate(id));
    }
    resources.insert(id, value);
    Ok(())
}

fn get_att(id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [id, attribute]})
}

fn send_message_statement(queue: &str, rule: &str) -> Value {
    json!({
        "Sid": format!("From{rule}"),
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": get_att(queue, "Arn"),
        "Condition": {"ArnEquals": {"aws:SourceArn": get_att(rule, "Arn")}}
    })
}

fn queue_policy(queue: &str, statements: Vec<Value>) -> Value {
    json!({
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": queue}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}
        }
    })
}

fn queue(description: &str) -> Value {
    // Description is not a queue property: it goes into the tags.
    json!({
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
            "SqsManagedSseEnabled": true,
            "Tags": [{"Key": "tally:purpose", "Value": description}]
        }
    })
}

/// The target's input processing, as declared.
fn input_properties(rule: &RuleDeclaration, target: &mut Map<String, Value>) {
    if let Some(input) = &rule.input {
        target.insert("Input".into(), json!(input));
    }
    if let Some(path) = &rule.input_path {
        target.insert("InputPath".into(), json!(path));
    }
    if let Some(t) = &rule.input_transformer {
        let mut transformer = Map::new();
        if !t.input_paths_map.is_empty() {
            transformer.insert("InputPathsMap".into(), json!(t.input_paths_map));
        }
        transformer.insert("InputTemplate".into(), json!(t.input_template));
        target.insert("InputTransformer".into(), Value::Object(transformer));
    }
}

/// Adds every declared rule, its target's plumbing and its dead-letter queue to `resources`.
pub(crate) fn add(
    declarations: &[Declaration],
    known: Known<'_>,
    bus: &str,
    resources: &mut Map<String, Value>,
) -> Result<(), DeployError> {
    // Queues made for sqs targets, with the rules sending to them.
    let mut sqs_targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for declaration in declarations {
        declaration.validate()?;
        for rule in &declaration.rules {
            let rule_id = rule_logical_id(&declaration.name, &rule.name);
            let dlq = format!(
                "{}DeadLetterQueue",
                logical_id(&format!("{}-{}", declaration.name, rule.name))
            );
            let unknown =
                |kind: &'static str, name: &str, known: &[&str]| DeployError::UnknownTarget {
                    consumer: declaration.name.clone(),
                    rule: rule.name.clone(),
                    kind,
                    name: name.to_owned(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                };
            let (target_id, arn, role) = match &rule.target {
                TargetKind::Firehose { stream } => {
                    if !known.firehose.contains(&stream.as_str()) {
                        return Err(unknown("firehose", stream, known.firehose));
                    }
                    let role = format!("{}TargetRole", rule_id.trim_end_matches("Rule"));
                    insert(
                        resources,
                        role.clone(),
                        json!({
                            "Type": "AWS::IAM::Role",
                            "Properties": {
                                "Description": format!("lets rule {}-{} put records on {stream}", declaration.name, rule.name),
                                "AssumeRolePolicyDocument": {
                                    "Version": "2012-10-17",
                                    "Statement": [{
                                        "Effect": "Allow",
                                        "Principal": {"Service": "events.amazonaws.com"},
                                        "Action": "sts:AssumeRole",
                                        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
                                    }]
                                },
                                "Policies": [{
                                    "PolicyName": "put-records",
                                    "PolicyDocument": {
                                        "Version": "2012-10-17",
                                        "Statement": [{
                                            "Effect": "Allow",
                                            "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                                            "Resource": get_att(stream, "Arn")
                                        }]
                                    }
                                }]
                            }
                        }),
                    )?;
                    (
                        stream.clone(),
                        get_att(stream, "Arn"),
                        Some(get_att(&role, "Arn")),
                    )
                }
                TargetKind::Lambda { function } => {
                    if !known.lambda.contains(&function.as_str()) {
                        return Err(unknown("lambda", function, known.lambda));
                    }
                    let permission = format!("{}Permission", rule_id.trim_end_matches("Rule"));
                    insert(
                        resources,
                        permission,
                        json!({
                            "Type": "AWS::Lambda::Permission",
                            "Properties": {
                                "Action": "lambda:InvokeFunction",
                                "FunctionName": get_att(function, "Arn"),
                                "Principal": "events.amazonaws.com",
                                "SourceArn": get_att(&rule_id, "Arn")
                            }
                        }),
                    )?;
                    (function.clone(), get_att(function, "Arn"), None)
                }
                TargetKind::Sqs { queue: name } => {
                    if !is_logical_id(name) {
                        return Err(DeployError::Source {
                            what: "declarations",
                            message: format!(
                                "consumer {:?}, rule {:?}: sqs queue name {name:?} is not a logical id (letters and digits)",
                                declaration.name, rule.name
                            ),
                        });
                    }
                    sqs_targets
                        .entry(name.clone())
                        .or_default()
                        .push(rule_id.clone());
                    (name.clone(), get_att(name, "Arn"), None)
                }
            };

            let mut target = Map::new();
            target.insert("Id".into(), json!(target_id));
            target.insert("Arn".into(), arn);
            if let Some(role) = role {
                target.insert("RoleArn".into(), role);
            }
            input_properties(rule, &mut target);
            target.insert(
                "RetryPolicy".into(),
                json!({
                    "MaximumRetryAttempts": rule.retry.maximum_retry_attempts,
                    "MaximumEventAgeInSeconds": rule.retry.maximum_event_age_in_seconds
                }),
            );
            target.insert(
                "DeadLetterConfig".into(),
                json!({"Arn": get_att(&dlq, "Arn")}),
            );

            insert(
                resources,
                rule_id.clone(),
                json!({
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "Name": format!("{}-{}", declaration.name, rule.name),
                        "Description": format!("{}: {}", declaration.name, declaration.description),
                        "EventBusName": {"Ref": bus},
                        "EventPattern": rule.pattern,
                        "State": "ENABLED",
                        "Targets": [Value::Object(target)]
                    }
                }),
            )?;
            insert(
                resources,
                dlq.clone(),
                queue(&format!(
                    "dead letters of rule {}-{}",
                    declaration.name, rule.name
                )),
            )?;
            insert(
                resources,
                format!("{dlq}Policy"),
                queue_policy(&dlq, vec![send_message_statement(&dlq, &rule_id)]),
            )?;
        }
    }
    for (name, rules) in sqs_targets {
        if !known.sqs.contains(&name.as_str()) {
            insert(
                resources,
                name.clone(),
                queue(&format!("target of {}", rules.join(" "))),
            )?;
        }
        let statements = rules
            .iter()
            .map(|r| send_message_statement(&name, r))
            .collect();
        insert(
            resources,
            format!("{name}Policy"),
            queue_policy(&name, statements),
        )?;
    }
    Ok(())
}
