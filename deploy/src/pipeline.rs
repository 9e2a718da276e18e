//! The pipeline stack, in the home region.

use serde_json::{Map, Value, json};

use crate::cfn::{get_att, policy, sub, trust};
use crate::names::logical_id;
use crate::rules::{self, Known};
use crate::{DeployError, Options, Sources};
use crate::{alarms, counters};

/// The archive's delivery stream: the logical name the archive consumer declares.
pub(crate) const ARCHIVE_STREAM: &str = "ArchiveStream";
/// The bus.
pub(crate) const BUS: &str = "EventBus";
/// The enrichment state machine.
pub(crate) const STATE_MACHINE: &str = "EnrichStateMachine";
/// The enrichment's last resort: where a view goes when the bus refuses its dead letter too.
pub(crate) const LAST_RESORT: &str = "EnrichLastResortQueue";
/// The archive bucket.
pub(crate) const BUCKET: &str = "ArchiveBucket";
/// Where Athena writes query results in the bucket.
const ATHENA_RESULTS_PREFIX: &str = "athena-results/";

/// Actions AWS only grants on `"*"`: CloudWatch Logs vended delivery, which Step Functions
/// logging needs (Step Functions developer guide, "IAM policies for logging to CloudWatch Logs").
pub const LOG_DELIVERY_ACTIONS: [&str; 8] = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

/// `${Name}` placeholders of the Glue table other than `${ArchiveBucket}` (the projection's
/// `${year}`…) escaped for `Fn::Sub`; strings with a placeholder wrapped in `Fn::Sub`.
fn substitute_table(value: &Value) -> Value {
    match value {
        Value::String(s) if s.contains("${") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let name_end = after.find('}').unwrap_or(after.len());
                if &after[..name_end] == BUCKET {
                    out.push_str("${");
                } else {
                    out.push_str("${!");
                }
                rest = after;
            }
            out.push_str(rest);
            sub(&out)
        }
        Value::Array(items) => Value::Array(items.iter().map(substitute_table).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_table(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn parameters(options: &Options) -> Map<String, Value> {
    let v = json!({
        "RetentionDays": {
            "Type": "Number",
            "Default": options.retention_days,
            "MinValue": 1,
            "Description": "days archived events are kept: the bucket's lifecycle and the bus archive"
        },
        "GlueDatabaseName": {
            "Type": "String",
            "Default": "tally",
            "AllowedPattern": "^[a-z0-9_]{1,255}$",
            "Description": "the Glue database of the page_views table"
        },
        "ArtifactBucket": {
            "Type": "String",
            "Description": "the bucket holding the Lambda packages (tally deploy makes it)"
        },
        "CountersCodeKey": {
            "Type": "String",
            "Description": "the key of the counters Lambda zip (bootstrap, provided.al2023, arm64)"
        }
    });
    v.as_object().cloned().unwrap_or_default()
}

fn bus_and_enrichment(sources: &Sources, r: &mut Map<String, Value>) -> Result<(), DeployError> {
    serde_json::from_str::<Value>(&sources.state_machine).map_err(|e| DeployError::Source {
        what: "state machine definition",
        message: format!("not JSON: {e}"),
    })?;
    r.insert(
        BUS.into(),
        json!({
            "Type": "AWS::Events::EventBus",
            "Properties": {"Name": sub("${AWS::StackName}")}
        }),
    );
    r.insert(
        "EventBusArchive".into(),
        json!({
            "Type": "AWS::Events::Archive",
            "Properties": {
                "Description": "every tally event, for replay (replayed events carry replay-name)",
                "SourceArn": get_att(BUS, "Arn"),
                "EventPattern": {"source": ["tally"]},
                "RetentionDays": {"Ref": "RetentionDays"}
            }
        }),
    );
    r.insert(
        "EnrichLogGroup".into(),
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/vendedlogs/states/${AWS::StackName}-enrich"),
                "RetentionInDays": 14
            }
        }),
    );
    r.insert("EnrichRole".into(), json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "the enrichment state machine: put events on the bus, deliver its logs",
            "AssumeRolePolicyDocument": trust("states.amazonaws.com"),
            "Policies": [
                policy("put-events", json!([{
                    "Effect": "Allow",
                    "Action": "events:PutEvents",
                    "Resource": get_att(BUS, "Arn")
                }])),
                policy("last-resort", json!([{
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": get_att(LAST_RESORT, "Arn")
                }])),
                policy("log-delivery", json!([{
                    "Effect": "Allow",
                    "Action": LOG_DELIVERY_ACTIONS,
                    "Resource": "*"
                }]))
            ]
        }
    }));
    // The definition builds this queue's URL from its own ARN and the bus name (`BUS-last-resort`,
    // the bus being named after the stack), so the queue's name is fixed.
    let mut last_resort =
        crate::cfn::queue("page views whose dead letter the bus refused and the failure");
    last_resort["Properties"]["QueueName"] = sub("${AWS::StackName}-last-resort");
    r.insert(LAST_RESORT.into(), last_resort);
    r.insert(STATE_MACHINE.into(), json!({
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "StateMachineName": sub("${AWS::StackName}-enrich"),
            "StateMachineType": "EXPRESS",
            "RoleArn": get_att("EnrichRole", "Arn"),
            "DefinitionString": sources.state_machine,
            "DefinitionSubstitutions": {"EventBusName": {"Ref": BUS}},
            // Every state of every execution, with its data: an Express execution has no history
            // but its log. The data is the view (no raw IP, no user agent, no cookie: the schema
            // refuses them) and, in a failure, the error.
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": true,
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": get_att("EnrichLogGroup", "Arn")}}]
            },
            "TracingConfiguration": {"Enabled": false}
        }
    }));
    Ok(())
}

fn archive(sources: &Sources, r: &mut Map<String, Value>) {
    let archive = &sources.archive;
    r.insert(BUCKET.into(), json!({
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": true}
            ]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true,
                "BlockPublicPolicy": true,
                "IgnorePublicAcls": true,
                "RestrictPublicBuckets": true
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-events", "Status": "Enabled", "Prefix": archive.layout.prefix,
                 "ExpirationInDays": {"Ref": "RetentionDays"}},
                {"Id": "expire-errors", "Status": "Enabled", "Prefix": "errors/",
                 "ExpirationInDays": {"Ref": "RetentionDays"}},
                {"Id": "expire-athena-results", "Status": "Enabled", "Prefix": ATHENA_RESULTS_PREFIX,
                 "ExpirationInDays": 7},
                {"Id": "abort-incomplete-uploads", "Status": "Enabled",
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
            ]}
        }
    }));
    r.insert(
        "ArchiveBucketPolicy".into(),
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": BUCKET},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "s3:*",
                    "Resource": [get_att(BUCKET, "Arn"), sub("${ArchiveBucket.Arn}/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                }]}
            }
        }),
    );
    r.insert("ArchiveStreamLogGroup".into(), json!({
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": sub(&format!("/aws/kinesisfirehose/${{AWS::StackName}}-{}", "archive")),
            "RetentionInDays": 14
        }
    }));
    r.insert("ArchiveStreamLogStream".into(), json!({
        "Type": "AWS::Logs::LogStream",
        "Properties": {"LogGroupName": {"Ref": "ArchiveStreamLogGroup"}, "LogStreamName": "DestinationDelivery"}
    }));
    r.insert("ArchiveDeliveryRole".into(), json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "the archive's delivery stream: write objects to the archive bucket",
            "AssumeRolePolicyDocument": trust("firehose.amazonaws.com"),
            "Policies": [policy("deliver", json!([
                {
                    "Effect": "Allow",
                    "Action": ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject",
                               "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"],
                    "Resource": [get_att(BUCKET, "Arn"), sub("${ArchiveBucket.Arn}/*")]
                },
                {
                    "Effect": "Allow",
                    "Action": "logs:PutLogEvents",
                    "Resource": sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${ArchiveStreamLogGroup}:log-stream:DestinationDelivery")
                }
            ]))]
        }
    }));
    // The stream's name starts every object's name: the local writer's `Layout::stream` is
    // `{stack}-archive` with the default stack name `tally`.
    r.insert(ARCHIVE_STREAM.into(), json!({
        "Type": "AWS::KinesisFirehose::DeliveryStream",
        "Properties": {
            "DeliveryStreamName": sub("${AWS::StackName}-archive"),
            "DeliveryStreamType": "DirectPut",
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
            "ExtendedS3DestinationConfiguration": {
                "BucketARN": get_att(BUCKET, "Arn"),
                "RoleARN": get_att("ArchiveDeliveryRole", "Arn"),
                "Prefix": archive.layout.firehose_prefix(),
                "ErrorOutputPrefix": archive.error_prefix(),
                "BufferingHints": {"SizeInMBs": archive.buffer_mib, "IntervalInSeconds": archive.buffer_seconds},
                "CompressionFormat": "GZIP",
                "ProcessingConfiguration": {
                    "Enabled": true,
                    "Processors": [{
                        "Type": "AppendDelimiterToRecord",
                        "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}]
                    }]
                },
                "CloudWatchLoggingOptions": {
                    "Enabled": true,
                    "LogGroupName": {"Ref": "ArchiveStreamLogGroup"},
                    "LogStreamName": {"Ref": "ArchiveStreamLogStream"}
                }
            }
        }
    }));
}

fn athena(sources: &Sources, r: &mut Map<String, Value>) -> Result<(), DeployError> {
    let table: Value =
        serde_json::from_str(&sources.glue_table).map_err(|e| DeployError::Source {
            what: "glue table",
            message: format!("not JSON: {e}"),
        })?;
    r.insert("GlueDatabase".into(), json!({
        "Type": "AWS::Glue::Database",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseInput": {"Name": {"Ref": "GlueDatabaseName"}, "Description": "Tally page views"}
        }
    }));
    r.insert(
        "PageViewsTable".into(),
        json!({
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseName": {"Ref": "GlueDatabase"},
                "TableInput": substitute_table(&table)
            }
        }),
    );
    r.insert("AthenaWorkGroup".into(), json!({
        "Type": "AWS::Athena::WorkGroup",
        "Properties": {
            "Name": sub("${AWS::StackName}"),
            "Description": "Tally's named queries over the archive",
            "RecursiveDeleteOption": true,
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": true,
                "PublishCloudWatchMetricsEnabled": true,
                "BytesScannedCutoffPerQuery": 10_737_418_240_u64,
                "ResultConfiguration": {
                    "OutputLocation": sub(&format!("s3://${{ArchiveBucket}}/{ATHENA_RESULTS_PREFIX}")),
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}
                }
            }
        }
    }));
    for query in &sources.named_queries {
        r.insert(
            format!("{}Query", logical_id(&query.name)),
            json!({
                "Type": "AWS::Athena::NamedQuery",
                "Properties": {
                    "Name": query.name,
                    "Database": {"Ref": "GlueDatabase"},
                    "WorkGroup": {"Ref": "AthenaWorkGroup"},
                    "QueryString": query.sql
                }
            }),
        );
    }
    Ok(())
}

fn registry(sources: &Sources, r: &mut Map<String, Value>) {
    r.insert("SchemaRegistry".into(), json!({
        "Type": "AWS::EventSchemas::Registry",
        "Properties": {"RegistryName": sub("${AWS::StackName}"), "Description": "Tally page-view events"}
    }));
    r.insert(
        "PageViewSchema".into(),
        json!({
            "Type": "AWS::EventSchemas::Schema",
            "Properties": {
                "RegistryName": get_att("SchemaRegistry", "RegistryName"),
                "SchemaName": "tally@PageView",
                "Type": "JSONSchemaDraft4",
                "Content": sources.registry_schema,
                "Description": "the PageView detail (tally schema export --registry-format)"
            }
        }),
    );
}

/// The pipeline template.
pub(crate) fn render(sources: &Sources, options: &Options) -> Result<Value, DeployError> {
    let mut resources = Map::new();
    bus_and_enrichment(sources, &mut resources)?;
    archive(sources, &mut resources);
    athena(sources, &mut resources)?;
    counters::add(&mut resources);
    resources.insert(SALTS_TABLE.into(), salts_table());
    registry(sources, &mut resources);
    rules::add(
        &sources.declarations,
        Known {
            firehose: &[ARCHIVE_STREAM],
            lambda: &[counters::FUNCTION],
            sqs: &[counters::QUEUE],
        },
        BUS,
        &mut resources,
    )?;
    let (mut parameters, mut conditions) = (parameters(options), Map::new());
    alarms::topic(&mut parameters, &mut conditions, &mut resources);
    alarms::add(&mut resources, &json!({"Ref": alarms::TOPIC}));
    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Tally pipeline (home region): bus, enrichment, archive, Athena, counters, consumer rules, schema registry. Generated by `tally deploy --dry-run`: do not edit.",
        "Parameters": parameters,
        "Conditions": conditions,
        "Resources": resources,
        "Outputs": {
            "StateMachineArn": {"Description": "the enrichment state machine the edge function starts", "Value": {"Ref": STATE_MACHINE}},
            "EventBusName": {"Value": {"Ref": BUS}},
            "EventBusArn": {"Value": get_att(BUS, "Arn")},
            "ArchiveBucketName": {"Value": {"Ref": BUCKET}},
            "AthenaWorkGroup": {"Value": {"Ref": "AthenaWorkGroup"}},
            "GlueDatabase": {"Value": {"Ref": "GlueDatabase"}},
            "CountersTableName": {"Value": {"Ref": counters::TABLE}},
            "SaltsTableName": {"Description": "the visitor hash's daily salts every producer shares", "Value": {"Ref": SALTS_TABLE}},
            "SaltsTableArn": {"Description": "the salts table, for the edge function's role", "Value": get_att(SALTS_TABLE, "Arn")},
            "AlarmTopicArn": {"Description": "the topic every alarm notifies (the producer stacks' too)", "Value": {"Ref": alarms::TOPIC}},
            "LastResortQueueUrl": {"Description": "page views whose dead letter the bus refused", "Value": {"Ref": LAST_RESORT}}
        }
    }))
}

/// The visitor hash's daily salts, shared by the log producers (`tally_lambda_sink::salts`).
pub(crate) const SALTS_TABLE: &str = "SaltsTable";

/// One item a day, `pk` = `salt#YYYY-MM-DD`; a producer deletes the days before yesterday, and
/// the TTL (`expires_at`, 48 hours after the day began) catches what it missed. No backups: a
/// restorable salt would outlive its window.
fn salts_table() -> Value {
    json!({
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": true},
            "SSESpecification": {"SSEEnabled": true}
        }
    })
}
