//! The deploy templates: fresh, linted by cfn-lint, least-privilege IAM, rules equal to the
//! consumer declarations, the archive's Firehose configuration equal to the local writer's, the
//! enrichment as committed; and the cost model against a hand computation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tally::cmd::deploy::{options, rendered_files, sources};
use tally_archive::ArchiveConfig;
use tally_consumer::TargetKind;
use tally_deploy::cost::{self, Prices};
use tally_deploy::{Options, REGENERATE_COMMAND, Templates, lint, rule_logical_id};

fn root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

fn templates() -> Templates {
    tally_deploy::render(&sources().unwrap(), &Options::default()).unwrap()
}

#[test]
fn committed_files_are_what_tally_deploy_renders() {
    let files = rendered_files(&sources().unwrap(), &Options::default()).unwrap();
    // pipeline, realtime-logs, standard-logs, edge, site, and the dashboard.
    assert_eq!(files.len(), 6);
    for (path, text) in files {
        let committed_path = root().join("deploy").join(&path);
        let committed = fs::read_to_string(&committed_path).unwrap_or_default();
        if committed != text {
            panic!(
                "deploy/{} is stale: it differs from what the declarations and definitions render.\n\
                 Regenerate it with:\n\n    {REGENERATE_COMMAND}\n",
                path.display()
            );
        }
    }
}

#[test]
fn the_default_options_are_the_command_lines() {
    use clap::Parser;
    let cli = tally::cmd::Cli::try_parse_from(["tally", "deploy", "--dry-run"]).unwrap();
    let tally::cmd::Command::Deploy(args) = cli.command else {
        panic!("not a deploy command")
    };
    assert_eq!(options(&args), Options::default());
}

#[test]
fn bad_deploy_arguments_are_refused_before_anything_runs() {
    use clap::Parser;
    let parse = |args: &[&str]| tally::cmd::Cli::try_parse_from(args);
    let deploy = |args: &[&str]| match parse(args).unwrap().command {
        tally::cmd::Command::Deploy(args) => args,
        _ => panic!("not a deploy command"),
    };
    // An alias without its certificate, an unknown producer.
    assert!(parse(&["tally", "deploy", "--alias", "www.example.com"]).is_err());
    let err = parse(&["tally", "deploy", "--producer", "pixel"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("realtime-logs, standard-logs or edge"),
        "{err}"
    );
    // Several producers, the default one otherwise.
    let args = deploy(&[
        "tally",
        "deploy",
        "--producer",
        "edge",
        "--producer",
        "standard-logs",
    ]);
    assert_eq!(
        args.producers,
        [
            tally_deploy::Producer::Edge,
            tally_deploy::Producer::StandardLogs
        ]
    );
    assert_eq!(
        deploy(&["tally", "deploy"]).producers,
        [tally_deploy::Producer::RealtimeLogs]
    );
    // A certificate outside us-east-1, a prefix no bucket name takes.
    let args = deploy(&[
        "tally",
        "deploy",
        "--alias",
        "www.example.com",
        "--certificate-arn",
        "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    ]);
    let err = tally::cmd::deploy::check_args(&args)
        .unwrap_err()
        .to_string();
    assert!(err.contains("us-east-1"), "{err}");
    let args = deploy(&["tally", "deploy", "--stack-prefix", "Tally"]);
    assert!(tally::cmd::deploy::check_args(&args).is_err());
    assert!(tally::cmd::deploy::check_args(&deploy(&["tally", "deploy"])).is_ok());
    let args = deploy(&["tally", "deploy", "--alarm-email", "ops"]);
    assert!(tally::cmd::deploy::check_args(&args).is_err());
    let args = deploy(&["tally", "deploy", "--alarm-email", "ops@example.com"]);
    assert!(tally::cmd::deploy::check_args(&args).is_ok());
}

/// The resource an alarm's dimension names (`Ref` or `Fn::GetAtt` of it).
fn alarmed(alarm: &Value) -> Option<&str> {
    let value = &alarm["Properties"]["Dimensions"][0]["Value"];
    value["Ref"]
        .as_str()
        .or_else(|| value["Fn::GetAtt"][0].as_str())
}

/// Walks every home-region template: each queue, function, state machine and delivery stream
/// has an alarm on the right metric, and every alarm notifies the pipeline's topic. The edge
/// stack has none: Lambda@Edge reports its metrics in the region each replica ran in.
#[test]
fn every_failure_place_has_an_alarm_on_the_topic() {
    let t = templates();
    let topics = [
        json!({"Ref": "AlarmTopic"}),
        json!({"Ref": "AlarmTopicArn"}),
    ];
    // A work queue (one with a redrive policy) is consumed: its alarm is on the age of its
    // oldest message; every other queue is a failure place, alarmed on its depth.
    let metric = |resource: &Value| match resource["Type"].as_str().unwrap() {
        "AWS::SQS::Queue" if !resource["Properties"]["RedrivePolicy"].is_null() => {
            Some(vec!["ApproximateAgeOfOldestMessage"])
        }
        "AWS::SQS::Queue" => Some(vec!["ApproximateNumberOfMessagesVisible"]),
        "AWS::Lambda::Function" => Some(vec!["Errors"]),
        "AWS::StepFunctions::StateMachine" => Some(vec!["ExecutionsFailed"]),
        "AWS::KinesisFirehose::DeliveryStream" => {
            Some(vec!["DeliveryToS3.DataFreshness", "DeliveryToS3.Success"])
        }
        _ => None,
    };
    let mut checked = 0;
    for (name, template) in [
        ("pipeline", &t.pipeline),
        ("realtime-logs", &t.realtime_logs),
        ("standard-logs", &t.standard_logs),
    ] {
        let resources = template["Resources"].as_object().unwrap();
        let alarms: Vec<&Value> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
            .collect();
        for alarm in &alarms {
            let actions = alarm["Properties"]["AlarmActions"].as_array().unwrap();
            assert!(topics.contains(&actions[0]), "{name}: {alarm}");
        }
        for (id, resource) in resources {
            let Some(expected) = metric(resource) else {
                continue;
            };
            let mut got: Vec<&str> = alarms
                .iter()
                .filter(|a| alarmed(a) == Some(id.as_str()))
                .map(|a| a["Properties"]["MetricName"].as_str().unwrap())
                .collect();
            got.sort_unstable();
            assert_eq!(got, expected, "{name}: {id} lacks its alarm");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} resources checked");
    let counters_queue = &t.pipeline["Resources"]["CountersQueueAgeAlarm"]["Properties"];
    assert_eq!(
        counters_queue["MetricName"],
        "ApproximateAgeOfOldestMessage"
    );
    // The topic, and the e-mail subscription only when an address is given.
    let r = &t.pipeline["Resources"];
    assert_eq!(r["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    let subscription = &r["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"], "HasAlarmEmail");
    assert_eq!(
        subscription["Properties"]["Endpoint"],
        json!({"Ref": "AlarmEmail"})
    );
    assert_eq!(t.pipeline["Parameters"]["AlarmEmail"]["Default"], "");
    assert_eq!(
        t.pipeline["Conditions"]["HasAlarmEmail"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    );
}

/// Runs cfn-lint (pinned, installed by ./tests/run, found through TALLY_CFN_LINT) on `files`.
fn cfn_lint(files: &[PathBuf]) -> std::process::Output {
    let cfn_lint = std::env::var("TALLY_CFN_LINT").unwrap_or_else(|_| {
        panic!(
            "this test needs cfn-lint: run it through ./tests/run, which installs it and sets \
             TALLY_CFN_LINT"
        )
    });
    Command::new(&cfn_lint)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cfn_lint}: {e}"))
}

#[test]
fn cfn_lint_passes_every_template() {
    let dir = root().join("deploy/templates");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "no templates in {}", dir.display());
    // The site with aliases and a certificate too.
    let tmp = tempfile::tempdir().unwrap();
    let with_certificate = Options {
        aliases: vec!["www.example.com".into()],
        certificate_arn:
            "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1234-5678-9abc-def012345678"
                .into(),
        ..Options::default()
    };
    let site = tally_deploy::render(&sources().unwrap(), &with_certificate)
        .unwrap()
        .site;
    let site_path = tmp.path().join("site-with-certificate.json");
    fs::write(&site_path, tally_deploy::to_file_text(&site)).unwrap();
    files.push(site_path);

    let out = cfn_lint(&files);
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cfn_lint_catches_a_broken_template() {
    // The lint must be able to fail: a rule without targets' required Arn.
    let mut pipeline = templates().pipeline;
    let rule = rule_logical_id("archive", "page-views");
    pipeline["Resources"][&rule]["Properties"]["Targets"][0]
        .as_object_mut()
        .unwrap()
        .remove("Arn");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("broken.json");
    fs::write(&path, tally_deploy::to_file_text(&pipeline)).unwrap();
    let out = cfn_lint(&[path]);
    assert!(
        !out.status.success(),
        "cfn-lint accepted a target without Arn"
    );
}

#[test]
fn iam_is_least_privilege() {
    let t = templates();
    for (name, template) in t.all() {
        let problems = lint::iam(template);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let problems = lint::permissions(template);
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }
    // The edge role: trusted by Lambda and Lambda@Edge, allowed to start executions of one
    // state machine, to read and make the salts of one table, and its logs in every region,
    // only in its own function's log groups.
    let role = &t.edge["Resources"]["EdgeRole"]["Properties"];
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        json!(["lambda.amazonaws.com", "edgelambda.amazonaws.com"])
    );
    let policies = role["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    assert_eq!(
        policies[0]["PolicyDocument"]["Statement"],
        json!([
            {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": "StateMachineArn"}},
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": {"Ref": "SaltsTableArn"}}
        ])
    );
    let logs = &policies[1]["PolicyDocument"]["Statement"];
    assert_eq!(
        logs[0]["Action"],
        json!([
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents"
        ])
    );
    let groups = logs[0]["Resource"]["Fn::Sub"].as_str().unwrap();
    // Any region (replicas log where they run), this account, this stack's function only; the
    // region in the name is the stack's, which is always us-east-1.
    assert_eq!(
        groups,
        "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/lambda/${AWS::Region}.${AWS::StackName}-EdgeFunction-*"
    );
    assert!(
        t.edge["Resources"]["EdgeFunction"]["Properties"]["FunctionName"].is_null(),
        "the name the policy expects is generated"
    );
    assert_eq!(tally::cmd::deploy_aws::EDGE_REGION, "us-east-1");
    assert!(role["ManagedPolicyArns"].is_null());
}

/// What a rendered rule says, in the declarations' terms.
#[derive(Debug, PartialEq)]
struct RenderedRule {
    pattern: Value,
    target: TargetKind,
    input: Option<String>,
    input_path: Option<String>,
    input_transformer: Option<Value>,
    retry: (u64, u64),
}

#[test]
fn rules_are_the_consumer_declarations() {
    let pipeline = templates().pipeline;
    let resources = pipeline["Resources"].as_object().unwrap();
    let kind_of = |arn: &Value| -> TargetKind {
        let id = arn["Fn::GetAtt"][0].as_str().unwrap().to_owned();
        match resources[&id]["Type"].as_str().unwrap() {
            "AWS::KinesisFirehose::DeliveryStream" => TargetKind::Firehose { stream: id },
            "AWS::Lambda::Function" => TargetKind::Lambda { function: id },
            "AWS::SQS::Queue" => TargetKind::Sqs { queue: id },
            other => panic!("target of unexpected type {other}"),
        }
    };

    let mut rendered = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Events::Rule" {
            continue;
        }
        let p = &resource["Properties"];
        assert_eq!(p["EventBusName"], json!({"Ref": "EventBus"}), "{id}");
        assert_eq!(p["State"], "ENABLED");
        let targets = p["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{id}: one target per rule");
        let target = &targets[0];
        // Every target has its own dead-letter queue, which the rule may write to.
        let dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap();
        assert_eq!(resources[dlq]["Type"], "AWS::SQS::Queue", "{id}");
        let policy = &resources[&format!("{dlq}Policy")]["Properties"];
        assert_eq!(policy["Queues"], json!([{"Ref": dlq}]));
        assert_eq!(
            policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            json!({"Fn::GetAtt": [id, "Arn"]})
        );
        let transformer = target.get("InputTransformer").map(|t| {
            json!({
                "input_paths_map": t.get("InputPathsMap").cloned().unwrap_or(json!({})),
                "input_template": t["InputTemplate"],
            })
        });
        rendered.insert(
            p["Name"].as_str().unwrap().to_owned(),
            RenderedRule {
                pattern: p["EventPattern"].clone(),
                target: kind_of(&target["Arn"]),
                input: target["Input"].as_str().map(str::to_owned),
                input_path: target["InputPath"].as_str().map(str::to_owned),
                input_transformer: transformer,
                retry: (
                    target["RetryPolicy"]["MaximumRetryAttempts"]
                        .as_u64()
                        .unwrap(),
                    target["RetryPolicy"]["MaximumEventAgeInSeconds"]
                        .as_u64()
                        .unwrap(),
                ),
            },
        );
    }

    let mut declared = BTreeMap::new();
    for d in tally::local::declarations() {
        for r in d.rules {
            declared.insert(
                format!("{}-{}", d.name, r.name),
                RenderedRule {
                    pattern: r.pattern,
                    target: r.target,
                    input: r.input,
                    input_path: r.input_path,
                    input_transformer: r.input_transformer.map(|t| {
                        json!({"input_paths_map": t.input_paths_map, "input_template": t.input_template})
                    }),
                    retry: (
                        u64::from(r.retry.maximum_retry_attempts),
                        u64::from(r.retry.maximum_event_age_in_seconds),
                    ),
                },
            );
        }
    }
    assert!(!declared.is_empty());
    assert_eq!(rendered, declared);
}

#[test]
fn the_archive_stream_is_the_local_writers_layout() {
    let pipeline = templates().pipeline;
    let local = ArchiveConfig::new("");
    let spec = tally_deploy::ArchiveSpec::from_config(&local);
    assert_eq!(lint::firehose(&pipeline, &spec), vec![]);

    let s3 =
        &pipeline["Resources"]["ArchiveStream"]["Properties"]["ExtendedS3DestinationConfiguration"];
    assert_eq!(s3["Prefix"], local.layout.firehose_prefix());
    assert_eq!(
        s3["Prefix"],
        "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    );
    assert_eq!(s3["CompressionFormat"], "GZIP");
    assert_eq!(
        s3["ProcessingConfiguration"]["Processors"][0]["Type"],
        "AppendDelimiterToRecord"
    );
    assert!(
        s3["ErrorOutputPrefix"]
            .as_str()
            .unwrap()
            .starts_with("errors/")
    );
    assert_eq!(
        s3["BufferingHints"],
        json!({"SizeInMBs": local.buffer_bytes.div_ceil(1 << 20), "IntervalInSeconds": local.buffer_interval.as_secs()})
    );
    // The stream with the default stack name is the local writer's stream name.
    assert_eq!(format!("{}-archive", "tally"), local.layout.stream);

    // The lint catches a drift from the layout.
    let mut drifted = pipeline.clone();
    drifted["Resources"]["ArchiveStream"]["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"] =
        json!("events/!{timestamp:yyyy}/!{timestamp:MM}/");
    drifted["Resources"]["ArchiveStream"]["Properties"]["ExtendedS3DestinationConfiguration"]["CompressionFormat"] =
        json!("UNCOMPRESSED");
    let problems = lint::firehose(&drifted, &spec);
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn the_state_machine_is_the_committed_definition() {
    let pipeline = templates().pipeline;
    let sm = &pipeline["Resources"]["EnrichStateMachine"]["Properties"];
    let file = fs::read_to_string(root().join("state-machines/enrich.asl.json")).unwrap();
    assert_eq!(sm["DefinitionString"], file);
    assert_eq!(sm["StateMachineType"], "EXPRESS");
    // Every placeholder of the definition has a substitution, and no other.
    let mut placeholders: Vec<&str> = file
        .split("${")
        .skip(1)
        .map(|s| s.split('}').next().unwrap())
        .collect();
    placeholders.sort_unstable();
    placeholders.dedup();
    let substituted: Vec<&str> = sm["DefinitionSubstitutions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(placeholders, substituted);
    assert_eq!(
        sm["DefinitionSubstitutions"]["EventBusName"],
        json!({"Ref": "EventBus"})
    );
    // Every execution logged with its data (the view, which holds no personal data), to a log
    // group that expires.
    let logging = &sm["LoggingConfiguration"];
    assert_eq!(logging["Level"], "ALL");
    assert_eq!(logging["IncludeExecutionData"], true);
    let group =
        &logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0];
    let group = &pipeline["Resources"][group.as_str().unwrap()];
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert!(group["Properties"]["RetentionInDays"].as_u64().unwrap() <= 30);
}

/// The definition's last resort builds the URL of `BUS-last-resort`: the pipeline's queue of that
/// name, which the state machine's role may send to.
#[test]
fn the_last_resort_queue_is_the_one_the_definition_sends_to() {
    let pipeline = templates().pipeline;
    let r = &pipeline["Resources"];
    let def: Value = serde_json::from_str(
        &fs::read_to_string(root().join("state-machines/enrich.asl.json")).unwrap(),
    )
    .unwrap();
    let send = &def["States"]["SendLastResort"];
    assert_eq!(send["Resource"], "arn:aws:states:::sqs:sendMessage");
    let url = send["Parameters"]["QueueUrl.$"].as_str().unwrap();
    assert!(url.contains("/{}/${EventBusName}-last-resort'"), "{url}");
    assert_eq!(
        def["States"]["PutDeadLetter"]["Catch"][0]["Next"],
        "SendLastResort"
    );
    assert_eq!(
        r["EventBus"]["Properties"]["Name"],
        json!({"Fn::Sub": "${AWS::StackName}"})
    );
    assert_eq!(
        r["EnrichLastResortQueue"]["Properties"]["QueueName"],
        json!({"Fn::Sub": "${AWS::StackName}-last-resort"})
    );
    let statements: Vec<&Value> = r["EnrichRole"]["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    assert!(
        statements.contains(&&json!({"Effect": "Allow", "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["EnrichLastResortQueue", "Arn"]}})),
        "{statements:?}"
    );
}

#[test]
fn the_glue_table_is_table_json() {
    let pipeline = templates().pipeline;
    fn unsub(v: &Value) -> Value {
        match v {
            Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
                json!(m["Fn::Sub"].as_str().unwrap().replace("${!", "${"))
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), unsub(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(unsub).collect()),
            other => other.clone(),
        }
    }
    let table = &pipeline["Resources"]["PageViewsTable"]["Properties"]["TableInput"];
    let file: Value = serde_json::from_str(
        &fs::read_to_string(root().join("consumers/athena/table.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(unsub(table), file);
    let queries: Vec<&str> = pipeline["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Athena::NamedQuery")
        .map(|r| r["Properties"]["Name"].as_str().unwrap())
        .collect();
    let sql_files = fs::read_dir(root().join("consumers/athena/queries"))
        .unwrap()
        .count();
    assert_eq!(queries.len(), sql_files);
}

#[test]
fn the_dashboard_has_every_named_query() {
    let text = fs::read_to_string(root().join("deploy/grafana/tally.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let sql: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["targets"][0]["rawSQL"].as_str().unwrap())
        .collect();
    for q in tally_athena::named_queries() {
        assert!(sql.contains(&q.sql), "no panel runs {}", q.name);
    }
    assert_eq!(sql.len(), tally_athena::named_queries().len());
}

#[test]
fn cost_of_a_million_views_matches_a_hand_computation() {
    let prices = Prices::committed().unwrap();
    let price = |k: &str| prices.prices[k].usd / prices.prices[k].per;
    let traffic = tally::cmd::cost::traffic(1_000_000, 400).unwrap();
    // Defaults the hand computation relies on.
    assert_eq!(traffic.event_bytes, 1000.0);
    assert_eq!(traffic.archived_event_bytes, 200.0);
    assert_eq!(traffic.edge_duration_ms, 50.0);
    assert_eq!(traffic.buffer_seconds, 60.0);
    // Complete, Merge, CheckComplete, PutPageView, Done.
    assert_eq!(traffic.standard_transitions_per_execution, 5.0);
    let e = cost::estimate(&prices, &traffic).unwrap();
    let line = |name: &str| {
        e.lines
            .iter()
            .find(|l| l.component.starts_with(name))
            .unwrap_or_else(|| panic!("no line {name}"))
            .usd
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1.0);

    // 1e6 requests at $0.60/M; 1e6 × 0.05 s × 0.125 GB = 6,250 GB-s.
    assert!(close(line("Lambda@Edge requests"), 0.60));
    assert!(close(
        line("Lambda@Edge duration"),
        6_250.0 * price("lambda_edge_duration")
    ));
    // Express: $1/M; 0.1 s × 64 MB: 1e6 × 0.1 × 0.0625 = 6,250 GB-s at $0.06/GB-hour.
    assert!(close(line("Step Functions Express requests"), 1.00));
    assert!(close(
        line("Step Functions Express duration"),
        6_250.0 / 3600.0 * 0.06
    ));
    assert!(close(line("EventBridge events"), 1.00));
    // Firehose: each 1,000-byte record billed as 5 KB: 1e6 × 5,120 B = 4.768… GB.
    assert!(close(
        line("Firehose ingestion"),
        1e6 * 5120.0 / 1_073_741_824.0 * 0.029
    ));
    // S3: 200 B × 1e6 per month kept 400/30 months.
    let stored_gb = 1e6 * 200.0 / 1_073_741_824.0 * (400.0 / 30.0);
    assert!(close(line("S3 storage"), stored_gb * 0.023));
    // One object a minute: 43,200 PUTs.
    assert!(close(line("S3 PUT"), 43_200.0 * 0.005 / 1000.0));
    // 240 queries each scanning everything stored.
    assert!(close(line("Athena"), 240.0 * stored_gb / 1024.0 * 5.0));
    // 12 items × 2 write units (transactions) per view.
    assert!(close(line("DynamoDB writes"), 24.0 * 0.625));
    // Standard: 5 transitions per execution at $0.025 per 1,000 = $125 for 1e6, which replaces
    // the Express lines.
    assert!(close(e.standard.usd, 5e6 * 0.025 / 1000.0));
    let express = 1.00 + 6_250.0 / 3600.0 * 0.06;
    assert!(close(e.total_standard, e.total - express + 125.0));
    let sum: f64 = e.lines.iter().map(|l| l.usd).sum();
    assert!(close(e.total, sum));
}

#[test]
fn producer_costs_at_a_million_views_match_a_hand_computation() {
    let prices = Prices::committed().unwrap();
    let c = tally::cmd::cost::comparison(&prices, &[1_000_000], 400).unwrap();
    let cost = |design: cost::Design| {
        c.producers
            .iter()
            .find(|(d, _)| *d == design)
            .map(|(_, v)| v[0])
            .unwrap()
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1.0);
    // Defaults: 10 requests a view, 1.5 of them on page behaviours; 50 ms / 128 MB edge
    // function; the CloudFront Function on (at most) every page request: 1.5e6 × $0.10/M = $0.15.
    let functions = 1.5e6 * 0.10 / 1e6;
    // Seed: the function and an origin fetch on every request: 1e7 × $0.60/M = $6.00,
    // 1e7 × 0.05 s × 0.125 GB = 62,500 GB-s × $0.00005001 = $3.125625, 1e7 GETs × $0.0004/1,000
    // = $4.00; 13.125625 in all.
    assert!(
        close(cost(cost::Design::Seed), 13.125625),
        "{}",
        cost(cost::Design::Seed)
    );
    // Edge: the same for the 1.5e6 page requests only, plus the functions:
    // 0.90 + 0.46884375 + 0.60 + 1.00 = 2.96884375.
    assert!(close(
        cost(cost::Design::Edge),
        0.90 + 0.468_843_75 + 0.60 + functions
    ));
    // Real-time: 1.5e6 log lines × $0.01/M = 0.015; 720 shard-hours × $0.015 = 10.80; 1.5e6
    // PUT payload units × $0.014/M = 0.021; batches: 1.5e6 / 100 = 15,000 full, but a 5 s window
    // over 2,592,000 s closes 518,400 times with records in it: 518,400 × $0.20/M = 0.10368;
    // duration (518,400 × 100 ms + 1e6 × 2 ms) = 53,840 s × 0.125 GB = 6,730 GB-s ×
    // $0.0000133334 = 0.0897337820; failures 150 × $0.40/M = 0.00006; functions 0.15.
    let realtime =
        0.015 + 10.80 + 0.021 + 0.10368 + 6_730.0 * 0.000_013_333_4 + 0.00006 + functions;
    assert!(
        close(cost(cost::Design::RealtimeLogs), realtime),
        "{}",
        cost(cost::Design::RealtimeLogs)
    );
    // The pipeline after any producer: the pipeline's estimate without its Lambda@Edge lines.
    let traffic = tally::cmd::cost::traffic(1_000_000, 400).unwrap();
    let e = cost::estimate(&prices, &traffic).unwrap();
    assert!(close(c.pipeline[0], e.total - 0.60 - 6_250.0 * 0.00005001));
}

#[test]
fn prices_are_dated_and_sourced() {
    let prices = Prices::committed().unwrap();
    assert_eq!(prices.date.len(), 10, "date as YYYY-MM-DD");
    for (key, p) in &prices.prices {
        assert!(
            p.source.starts_with("https://aws.amazon.com/"),
            "{key}: {}",
            p.source
        );
        assert!(p.usd > 0.0 && p.per > 0.0, "{key}");
    }
}

#[test]
fn tally_cost_prints_every_component() {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["cost", "--views-per-month", "1000000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for part in [
        "Lambda@Edge requests",
        "Step Functions Express",
        "EventBridge events",
        "Firehose ingestion (5 KB per record)",
        "S3 storage",
        "Athena scans",
        "DynamoDB writes",
        "Standard workflow",
        "seed: edge, caching disabled",
        "realtime-logs",
        "standard-logs",
        "pipeline after the producer",
    ] {
        assert!(text.contains(part), "no {part:?} in:\n{text}");
    }
    // Without a traffic: each producer at four.
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("cost")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("100,000,000"), "{text}");
}

#[test]
fn dry_run_writes_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["deploy", "--dry-run", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "templates/pipeline.json",
        "templates/realtime-logs.json",
        "templates/standard-logs.json",
        "templates/edge.json",
        "templates/site.json",
        "grafana/tally.json",
    ] {
        let written = fs::read_to_string(tmp.path().join(f)).unwrap();
        let committed = fs::read_to_string(
            Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("deploy")
                .join(f),
        )
        .unwrap();
        assert_eq!(written, committed, "{f}");
    }
}

/// deploy/README.md's table "Where each resource's failures go" names every resource of every
/// template (alarms aside): what fails there, where it goes, and which alarm fires.
#[test]
fn the_failure_table_names_every_resource() {
    let readme = fs::read_to_string(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("deploy/README.md"),
    )
    .unwrap();
    let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in readme.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 4 {
            continue;
        }
        let template = cells[0].trim_start_matches("| ").to_owned();
        let names = cells[1].split('`').skip(1).step_by(2).map(str::to_owned);
        named.entry(template).or_default().extend(names);
    }
    let t = templates();
    let mut checked = 0;
    for (name, template) in t.all() {
        let listed = named.get(name).cloned().unwrap_or_default();
        for (id, resource) in template["Resources"].as_object().unwrap() {
            if resource["Type"] == "AWS::CloudWatch::Alarm" {
                continue;
            }
            let query = id.ends_with("Query") && resource["Type"] == "AWS::Athena::NamedQuery";
            assert!(
                listed.contains(id) || (query && listed.iter().any(|n| n == "*Query")),
                "deploy/README.md's failure table lacks {name} {id}"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked}");
}
