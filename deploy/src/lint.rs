//! Checks of rendered templates.
//!
//! - [`iam`]: no `Allow` statement grants an action with a wildcard, and none grants `"*"` as a
//!   resource except for actions AWS only grants that way ([`STAR_RESOURCE_ACTIONS`]). `Deny`
//!   statements only take permissions away and are not checked; `NotAction`, `NotResource` and
//!   managed policies (which this check cannot see into) are refused.
//! - [`permissions`]: every `AWS::Lambda::Permission` granted to a service names its source
//!   (`SourceArn`), and, for S3, whose bucket ARNs hold no account, the account too
//!   (`SourceAccount`): no other account's bucket or rule can invoke the function.
//! - [`firehose`]: the archive's delivery stream writes what the local writer writes.

use std::fmt;

use serde_json::Value;

use crate::ArchiveSpec;
use crate::pipeline::{ARCHIVE_STREAM, LOG_DELIVERY_ACTIONS};

/// Actions that AWS only grants on the resource `"*"`.
pub const STAR_RESOURCE_ACTIONS: &[&str] = &LOG_DELIVERY_ACTIONS;

/// One problem found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The resource's logical id.
    pub resource: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.resource, self.message)
    }
}

fn resources(template: &Value) -> impl Iterator<Item = (&String, &Value)> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.iter())
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The policy documents of one resource, with where they are.
fn documents<'a>(kind: &str, properties: &'a Value) -> Vec<(String, &'a Value)> {
    match kind {
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => as_list(&properties["Policies"])
            .into_iter()
            .map(|p| {
                (
                    format!("policy {}", p["PolicyName"].as_str().unwrap_or("?")),
                    &p["PolicyDocument"],
                )
            })
            .collect(),
        "AWS::IAM::Policy"
        | "AWS::IAM::ManagedPolicy"
        | "AWS::SQS::QueuePolicy"
        | "AWS::S3::BucketPolicy"
        | "AWS::SNS::TopicPolicy" => {
            vec![("policy".into(), &properties["PolicyDocument"])]
        }
        _ => Vec::new(),
    }
}

/// Over-broad IAM in `template`.
pub fn iam(template: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (id, resource) in resources(template) {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let properties = &resource["Properties"];
        let mut problem = |message: String| {
            problems.push(Problem {
                resource: id.clone(),
                message,
            })
        };
        if kind == "AWS::IAM::Role" && !properties["ManagedPolicyArns"].is_null() {
            problem("managed policies cannot be checked: use inline policies".into());
        }
        for (place, document) in documents(kind, properties) {
            for (i, statement) in as_list(&document["Statement"]).into_iter().enumerate() {
                if statement["Effect"] != "Allow" {
                    continue;
                }
                let at = format!("{place}, statement {i}");
                for key in ["NotAction", "NotResource"] {
                    if !statement[key].is_null() {
                        problem(format!("{at}: {key} allows everything else"));
                    }
                }
                let actions = as_list(&statement["Action"]);
                let names: Vec<&str> = actions.iter().filter_map(|a| a.as_str()).collect();
                if names.len() != actions.len() {
                    problem(format!("{at}: actions must be literal strings"));
                }
                for action in &names {
                    if action.contains('*') {
                        problem(format!("{at}: action {action:?} has a wildcard"));
                    }
                }
                let star = as_list(&statement["Resource"])
                    .into_iter()
                    .any(|r| r.as_str() == Some("*"));
                if star {
                    for action in &names {
                        if !STAR_RESOURCE_ACTIONS.contains(action) {
                            problem(format!(
                                "{at}: action {action:?} on resource \"*\": name the resource"
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

/// Lambda permissions that let a service invoke a function on anyone's behalf.
pub fn permissions(template: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (id, resource) in resources(template) {
        if resource["Type"] != "AWS::Lambda::Permission" {
            continue;
        }
        let p = &resource["Properties"];
        let principal = p["Principal"].as_str().unwrap_or_default();
        if !principal.ends_with(".amazonaws.com") {
            continue;
        }
        let mut problem = |message: String| {
            problems.push(Problem {
                resource: id.clone(),
                message,
            })
        };
        if p["SourceArn"].is_null() {
            problem(format!(
                "{principal} may invoke it from any source: set SourceArn"
            ));
        }
        if principal == "s3.amazonaws.com" && p["SourceAccount"].is_null() {
            problem("a bucket ARN names no account: set SourceAccount".into());
        }
    }
    problems
}

/// Differences between the archive's delivery stream and the local writer's layout.
pub fn firehose(template: &Value, archive: &ArchiveSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |message: String| {
        problems.push(Problem {
            resource: ARCHIVE_STREAM.into(),
            message,
        })
    };
    let stream = &template["Resources"][ARCHIVE_STREAM];
    if stream["Type"] != "AWS::KinesisFirehose::DeliveryStream" {
        problem("no delivery stream".into());
        return problems;
    }
    let s3 = &stream["Properties"]["ExtendedS3DestinationConfiguration"];
    if s3.is_null() {
        problem("no extended S3 destination".into());
        return problems;
    }
    let expect = |key: &str, want: Value, problem: &mut dyn FnMut(String)| {
        if s3[key] != want {
            problem(format!(
                "{key} is {}, the local writer needs {want}",
                s3[key]
            ));
        }
    };
    expect(
        "Prefix",
        archive.layout.firehose_prefix().into(),
        &mut problem,
    );
    expect(
        "ErrorOutputPrefix",
        archive.error_prefix().into(),
        &mut problem,
    );
    expect("CompressionFormat", "GZIP".into(), &mut problem);
    expect(
        "BufferingHints",
        serde_json::json!({"SizeInMBs": archive.buffer_mib, "IntervalInSeconds": archive.buffer_seconds}),
        &mut problem,
    );
    let processing = &s3["ProcessingConfiguration"];
    let appends_newline = processing["Enabled"] == true
        && as_list(&processing["Processors"]).iter().any(|p| {
            p["Type"] == "AppendDelimiterToRecord"
                && as_list(&p["Parameters"]).iter().all(|param| {
                    param["ParameterName"] != "Delimiter" || param["ParameterValue"] == "\\n"
                })
        });
    if !appends_newline {
        problem(
            "records are not newline-delimited: add the AppendDelimiterToRecord processor".into(),
        );
    }
    if !archive.layout.prefix.ends_with('/') {
        problem(format!(
            "the layout prefix {:?} does not end with '/'",
            archive.layout.prefix
        ));
    }
    let name = stream["Properties"]["DeliveryStreamName"]["Fn::Sub"]
        .as_str()
        .unwrap_or_default();
    if name != "${AWS::StackName}-archive" {
        problem(format!(
            "the stream's name {name:?} is not the stack's name followed by -archive"
        ));
    }
    problems
}
