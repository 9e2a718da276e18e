//! The producers' stacks and the site: what each is for, asserted on the rendered templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use tally_archive::{ArchiveConfig, ArchiveConsumer};
use tally_deploy::{
    ASSET_PATTERN, ArchiveSpec, CACHING_DISABLED, CACHING_OPTIMIZED, LOG_EXPIRATION_DAYS,
    LOG_PREFIX, Options, Sources, Templates, lint, render,
};

fn read(path: &str) -> String {
    fs::read_to_string(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path),
    )
    .unwrap()
}

fn sources() -> Sources {
    Sources {
        declarations: vec![ArchiveConsumer::declaration()],
        state_machine: read("state-machines/enrich.asl.json"),
        glue_table: read("consumers/athena/table.json"),
        named_queries: vec![],
        registry_schema: "{}".into(),
        archive: ArchiveSpec::from_config(&ArchiveConfig::new("")),
        realtime_fields: tally_logs::REALTIME_FIELDS.map(String::from).to_vec(),
    }
}

fn templates() -> Templates {
    render(&sources(), &Options::default()).unwrap()
}

/// Of one type, the only resource.
fn only<'a>(template: &'a Value, kind: &str) -> (&'a String, &'a Value) {
    let found: Vec<(&String, &Value)> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "{kind}: {found:?}");
    found[0]
}

/// `value` with every `Fn::If` decided by `conditions` and `AWS::NoValue` dropped.
fn resolve(value: &Value, conditions: &BTreeMap<&str, bool>) -> Option<Value> {
    match value {
        Value::Object(m) if m.contains_key("Fn::If") => {
            let args = m["Fn::If"].as_array().unwrap();
            let holds = conditions[args[0].as_str().unwrap()];
            resolve(&args[if holds { 1 } else { 2 }], conditions)
        }
        Value::Object(m) if m.get("Ref") == Some(&json!("AWS::NoValue")) => None,
        Value::Object(m) => Some(Value::Object(
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), resolve(v, conditions)?)))
                .collect(),
        )),
        Value::Array(a) => Some(Value::Array(
            a.iter().filter_map(|v| resolve(v, conditions)).collect(),
        )),
        other => Some(other.clone()),
    }
}

#[test]
fn the_realtime_log_fields_are_the_lists_the_lambda_reads_by() {
    let t = templates().realtime_logs;
    let (_, config) = only(&t, "AWS::CloudFront::RealtimeLogConfig");
    let fields = &config["Properties"]["Fields"];
    assert_eq!(fields, &json!(tally_logs::REALTIME_FIELDS));
    assert_eq!(config["Properties"]["SamplingRate"], 100);
    let (_, function) = only(&t, "AWS::Lambda::Function");
    let env = &function["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["TALLY_REALTIME_FIELDS"],
        tally_logs::REALTIME_FIELDS.join(",")
    );
    // The list is one the Lambda accepts, and the one its fixtures were written with.
    let parsed = tally_logs::RealtimeFields::parse(env["TALLY_REALTIME_FIELDS"].as_str().unwrap());
    assert!(parsed.unwrap().has(tally_logs::Field::Host));
    assert_eq!(
        read("producers/realtime-lambda/fixtures/realtime-fields.txt").trim(),
        tally_logs::REALTIME_FIELDS.join(",")
    );
    assert_eq!(function["Properties"]["Runtime"], "provided.al2023");
    assert_eq!(function["Properties"]["Architectures"], json!(["arm64"]));
    // A list the Lambda would refuse is refused before anything is rendered.
    let mut bad = sources();
    bad.realtime_fields.retain(|f| f != "x-edge-request-id");
    let err = render(&bad, &Options::default()).unwrap_err().to_string();
    assert!(err.contains("x-edge-request-id"), "{err}");
}

#[test]
fn the_event_source_mapping_retries_halves_and_gives_up_into_the_queue() {
    let t = templates().realtime_logs;
    let (_, mapping) = only(&t, "AWS::Lambda::EventSourceMapping");
    let p = &mapping["Properties"];
    assert_eq!(
        p["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(p["BisectBatchOnFunctionError"], true);
    assert_eq!(p["StartingPosition"], "TRIM_HORIZON");
    let retries = p["MaximumRetryAttempts"].as_u64().unwrap();
    assert!((1..=10).contains(&retries), "bounded: {retries}");
    // Given up on before Kinesis drops the record (24 hours).
    let (stream_id, stream) = only(&t, "AWS::Kinesis::Stream");
    let kept = stream["Properties"]["RetentionPeriodHours"]
        .as_u64()
        .unwrap()
        * 3600;
    let age = p["MaximumRecordAgeInSeconds"].as_u64().unwrap();
    assert!(age > 0 && age < kept, "{age} s of {kept} s");
    assert_eq!(
        p["EventSourceArn"],
        json!({"Fn::GetAtt": [stream_id, "Arn"]})
    );
    let (queue_id, queue) = only(&t, "AWS::SQS::Queue");
    assert_eq!(
        p["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": [queue_id, "Arn"]})
    );
    assert_eq!(queue["Properties"]["MessageRetentionPeriod"], 1_209_600);
    // The stream is encrypted and provisioned (ShardCount, default 1).
    assert_eq!(
        stream["Properties"]["StreamEncryption"]["EncryptionType"],
        "KMS"
    );
    assert_eq!(
        stream["Properties"]["StreamModeDetails"]["StreamMode"],
        "PROVISIONED"
    );
    assert_eq!(t["Parameters"]["ShardCount"]["Default"], 1);
}

#[test]
fn the_log_bucket_is_private_and_forgets_within_two_days() {
    let t = templates().standard_logs;
    let (bucket_id, bucket) = only(&t, "AWS::S3::Bucket");
    let p = &bucket["Properties"];
    let rules = p["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    let expiry = rules
        .iter()
        .find(|r| r["Status"] == "Enabled" && r["ExpirationInDays"].is_u64())
        .expect("an expiration rule");
    // Whole bucket, 1 day: S3 rounds creation + 1 day up to midnight UTC, so < 48 hours.
    assert!(expiry.get("Prefix").is_none() && expiry.get("Filter").is_none());
    assert_eq!(expiry["ExpirationInDays"], LOG_EXPIRATION_DAYS);
    assert_eq!(LOG_EXPIRATION_DAYS, 1);
    let block = &p["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key], true, "{key}");
    }
    assert!(p["BucketEncryption"].is_object());
    // Legacy standard logging writes through an ACL grant.
    assert_eq!(
        p["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerPreferred"
    );
    // Each new log object invokes the function, from this bucket and account only.
    let notification = &p["NotificationConfiguration"]["LambdaConfigurations"][0];
    assert_eq!(notification["Event"], "s3:ObjectCreated:*");
    assert_eq!(
        notification["Filter"]["S3Key"]["Rules"][0]["Value"],
        LOG_PREFIX
    );
    let (_, permission) = only(&t, "AWS::Lambda::Permission");
    let source = permission["Properties"]["SourceArn"]["Fn::Sub"]
        .as_str()
        .unwrap();
    let name = p["BucketName"]["Fn::Sub"].as_str().unwrap();
    assert_eq!(source, format!("arn:${{AWS::Partition}}:s3:::{name}"));
    assert_eq!(
        permission["Properties"]["SourceAccount"],
        json!({"Ref": "AWS::AccountId"})
    );
    assert_eq!(bucket["DependsOn"], "LogBucketPermission");
    // Asynchronous failures end in the failure queue.
    let (_, invoke) = only(&t, "AWS::Lambda::EventInvokeConfig");
    let (queue_id, _) = only(&t, "AWS::SQS::Queue");
    assert_eq!(
        invoke["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": [queue_id, "Arn"]})
    );
    assert!(
        invoke["Properties"]["MaximumRetryAttempts"]
            .as_u64()
            .unwrap()
            <= 2
    );
    assert_eq!(
        t["Outputs"]["LogBucketDomainName"]["Value"],
        json!({"Fn::GetAtt": [bucket_id, "DomainName"]})
    );
}

fn distribution(site: &Value, conditions: &BTreeMap<&str, bool>) -> Value {
    let (_, d) = only(site, "AWS::CloudFront::Distribution");
    resolve(&d["Properties"]["DistributionConfig"], conditions).unwrap()
}

fn conditions(edge: bool, realtime: bool, standard: bool) -> BTreeMap<&'static str, bool> {
    BTreeMap::from([
        ("HasEdge", edge),
        ("HasRealtimeLogs", realtime),
        ("HasStandardLogs", standard),
        ("HasCertificate", false),
    ])
}

#[test]
fn pages_carry_the_producers_and_assets_keep_their_cache() {
    let site = templates().site;
    let all = distribution(&site, &conditions(true, true, true));
    let behaviours = all["CacheBehaviors"].as_array().unwrap();
    let patterns: Vec<&str> = behaviours
        .iter()
        .map(|b| b["PathPattern"].as_str().unwrap())
        .collect();
    assert_eq!(patterns, ["*.html", "*.htm", ASSET_PATTERN], "assets last");
    let pages = [&all["DefaultCacheBehavior"], &behaviours[0], &behaviours[1]];
    for page in pages {
        assert_eq!(page["CachePolicyId"], CACHING_DISABLED, "{page}");
        let lambda = &page["LambdaFunctionAssociations"][0];
        assert_eq!(lambda["EventType"], "origin-response");
        assert_eq!(
            lambda["LambdaFunctionARN"],
            json!({"Ref": "EdgeFunctionVersionArn"})
        );
        assert_eq!(
            page["RealtimeLogConfigArn"],
            json!({"Ref": "RealtimeLogConfigArn"})
        );
    }
    let asset = &behaviours[2];
    assert_eq!(asset["CachePolicyId"], CACHING_OPTIMIZED);
    for key in [
        "LambdaFunctionAssociations",
        "RealtimeLogConfigArn",
        "OriginRequestPolicyId",
        "FunctionAssociations",
    ] {
        assert!(asset.get(key).is_none(), "the asset behaviour has {key}");
    }
    assert_eq!(all["Logging"]["Prefix"], LOG_PREFIX);
    // Log producers alone: pages are cached too (the logs see hits), no function, no logging.
    let logs = distribution(&site, &conditions(false, true, false));
    let page = &logs["DefaultCacheBehavior"];
    assert_eq!(page["CachePolicyId"], CACHING_OPTIMIZED);
    assert!(page.get("LambdaFunctionAssociations").is_none());
    assert!(logs.get("Logging").is_none());
    // Page behaviours follow the page extensions.
    let options = Options {
        page_extensions: vec!["html".into(), "php".into()],
        ..Options::default()
    };
    let other = render(&sources(), &options).unwrap().site;
    let patterns: Vec<Value> =
        distribution(&other, &conditions(false, false, false))["CacheBehaviors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["PathPattern"].clone())
            .collect();
    assert_eq!(
        patterns,
        [json!("*.html"), json!("*.php"), json!(ASSET_PATTERN)]
    );
}

#[test]
fn the_site_bucket_is_private_behind_origin_access_control() {
    let site = templates().site;
    let d = distribution(&site, &conditions(false, false, false));
    let origin = &d["Origins"][0];
    assert_eq!(origin["S3OriginConfig"]["OriginAccessIdentity"], "");
    let (oac_id, oac) = only(&site, "AWS::CloudFront::OriginAccessControl");
    assert_eq!(
        origin["OriginAccessControlId"],
        json!({"Fn::GetAtt": [oac_id, "Id"]})
    );
    assert_eq!(
        oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"],
        "always"
    );
    assert_eq!(d["DefaultRootObject"], "index.html");
    assert_eq!(d["HttpVersion"], "http2and3");
    assert_eq!(
        d["DefaultCacheBehavior"]["ViewerProtocolPolicy"],
        "redirect-to-https"
    );
    assert_eq!(
        d["ViewerCertificate"],
        json!({"CloudFrontDefaultCertificate": true})
    );
    assert!(d.get("Aliases").is_none());
    let (_, policy) = only(&site, "AWS::S3::BucketPolicy");
    let read = &policy["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        read["Principal"],
        json!({"Service": "cloudfront.amazonaws.com"})
    );
    assert_eq!(read["Action"], "s3:GetObject");
    let source = read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(
        source.ends_with(":distribution/${Distribution}"),
        "{source}"
    );
    let (_, bucket) = only(&site, "AWS::S3::Bucket");
    assert_eq!(
        bucket["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
        true
    );
    // The index rewrite runs before the cache on the default behaviour, where paths without a
    // dot land; not on the assets.
    let (fn_id, function) = only(&site, "AWS::CloudFront::Function");
    assert_eq!(
        function["Properties"]["FunctionConfig"]["Runtime"],
        "cloudfront-js-2.0"
    );
    assert_eq!(
        function["Properties"]["FunctionCode"],
        tally_deploy::INDEX_FUNCTION_CODE
    );
    assert_eq!(
        d["DefaultCacheBehavior"]["FunctionAssociations"],
        json!([{"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [fn_id, "FunctionARN"]}}])
    );
    for b in d["CacheBehaviors"].as_array().unwrap() {
        assert!(b.get("FunctionAssociations").is_none(), "{b}");
    }
}

#[test]
fn aliases_come_with_their_certificate() {
    let options = Options {
        aliases: vec!["www.example.com".into(), "example.com".into()],
        certificate_arn: "arn:aws:acm:us-east-1:123456789012:certificate/abc-123".into(),
        ..Options::default()
    };
    let site = render(&sources(), &options).unwrap().site;
    assert_eq!(
        site["Parameters"]["Aliases"]["Default"],
        "www.example.com,example.com"
    );
    let mut with_certificate = conditions(false, false, false);
    with_certificate.insert("HasCertificate", true);
    let d = distribution(&site, &with_certificate);
    assert_eq!(d["Aliases"], json!({"Ref": "Aliases"}));
    assert_eq!(
        d["ViewerCertificate"],
        json!({"AcmCertificateArn": {"Ref": "CertificateArn"}, "SslSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"})
    );
}

#[test]
fn every_template_passes_the_iam_and_permission_lints() {
    let t = templates();
    for (name, template) in t.all() {
        assert_eq!(lint::iam(template), vec![], "{name}");
        assert_eq!(lint::permissions(template), vec![], "{name}");
    }
    // The permission lint fails when it should.
    let mut open = t.standard_logs.clone();
    let permission = &mut open["Resources"]["LogBucketPermission"]["Properties"];
    permission.as_object_mut().unwrap().remove("SourceAccount");
    assert_eq!(lint::permissions(&open).len(), 1);
    let permission = &mut open["Resources"]["LogBucketPermission"]["Properties"];
    permission.as_object_mut().unwrap().remove("SourceArn");
    assert_eq!(lint::permissions(&open).len(), 2);
}

#[test]
fn the_edge_function_and_its_versions_outlive_the_stack() {
    // CloudFront deletes a Lambda@Edge function's replicas hours after its association goes;
    // until then the function cannot be deleted, so a stack that tried would fail to delete.
    let edge = templates().edge;
    for kind in ["AWS::Lambda::Function", "AWS::Lambda::Version"] {
        let (id, resource) = only(&edge, kind);
        assert_eq!(resource["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{id}");
    }
}

#[test]
fn the_counters_read_their_queue_in_batches_and_what_fails_ends_in_its_dead_letter_queue() {
    // The rule targets a queue; Lambda polls it and invokes the function synchronously with
    // batches, and the function names the messages it could not apply. Nothing is invoked
    // asynchronously, so nothing depends on Lambda's asynchronous retries.
    let pipeline = templates().pipeline;
    let r = &pipeline["Resources"];
    assert!(
        !pipeline
            .to_string()
            .contains("AWS::Lambda::EventInvokeConfig"),
        "no asynchronous invocation left"
    );
    // (That the counters' rule targets `CountersQueue` is `rules_are_the_consumer_declarations`
    // in tests/deploy_templates.rs, over the real declarations.)
    let (_, mapping) = only(&pipeline, "AWS::Lambda::EventSourceMapping");
    let m = &mapping["Properties"];
    assert_eq!(m["EventSourceArn"]["Fn::GetAtt"][0], "CountersQueue");
    assert_eq!(m["FunctionName"]["Ref"], "CountersFunction");
    assert_eq!(
        m["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert!(m["BatchSize"].as_u64().unwrap() > 10);
    assert!(
        m["MaximumBatchingWindowInSeconds"].as_u64().unwrap() >= 1,
        "needed past 10"
    );
    // The queue's redrive policy ends in a queue of its own, and its visibility timeout leaves
    // Lambda time for six tries of the function.
    let queue = &r["CountersQueue"]["Properties"];
    let dlq = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    assert_eq!(r[dlq]["Type"], "AWS::SQS::Queue");
    assert!(r[dlq]["Properties"]["RedrivePolicy"].is_null());
    let timeout = r["CountersFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
    // The dead-letter queue's depth is alarmed; the work queue's age.
    assert_eq!(
        r[&format!("{dlq}DepthAlarm")]["Properties"]["MetricName"],
        "ApproximateNumberOfMessagesVisible"
    );
    // The role may read and delete on the queue, and send nowhere.
    let role = r["CountersRole"]["Properties"]["Policies"].to_string();
    assert!(role.contains("sqs:ReceiveMessage") && role.contains("sqs:DeleteMessage"));
    assert!(!role.contains("sqs:SendMessage"), "{role}");
}
