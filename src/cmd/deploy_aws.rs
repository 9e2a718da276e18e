//! `tally deploy` without `--dry-run`: build the packages, then deploy in order:
//!
//! 1. an artifacts stack per region (`{prefix}-artifacts`, one encrypted private bucket) for the
//!    Lambda packages;
//! 2. the counters Lambda and the chosen log producers' Lambdas (`cargo lambda build --release
//!    --arm64 --output-format zip`), uploaded under their hash;
//! 3. the pipeline stack `{prefix}` in the home region; its output `StateMachineArn` goes to
//!    every producer;
//! 4. the log producers' stacks `{prefix}-realtime-logs` and `{prefix}-standard-logs` in the home
//!    region (the Lambdas start executions in their own region);
//! 5. for the edge producer, its package (`tally edge package`, the state machine ARN and region
//!    baked in) and the stack `{prefix}-edge` in us-east-1;
//! 6. with `--with-cloudfront`, the site stack `{prefix}-site` in us-east-1, given the
//!    producers' outputs.
//!
//! Every tool is looked for before anything is built or deployed.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::{Capability, Parameter};
use aws_sdk_s3::Client as S3;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use tally_deploy::Producer;

use crate::registry::error_text;

/// Lambda@Edge functions live in us-east-1.
pub const EDGE_REGION: &str = "us-east-1";

/// CloudFormation's limit for a template passed inline, in bytes.
const MAX_TEMPLATE_BODY: usize = 51_200;

/// The artifacts stack: one private, encrypted bucket whose old objects expire.
pub fn artifacts_template() -> Value {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Tally artifacts: Lambda packages and templates for tally deploy",
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true, "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "LifecycleConfiguration": {"Rules": [
                        {"Id": "old-versions", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}
                    ]}
                }
            }
        },
        "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}}
    })
}

/// Runs `program args`, failing with `missing` when it cannot be started.
fn tool_works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Checks the tools the build needs, naming what is missing.
pub(crate) fn preflight() -> anyhow::Result<()> {
    if !tool_works("cargo", &["lambda", "--version"]) {
        bail!(
            "cargo-lambda not found: the Lambdas are built with `cargo lambda build --release --arm64`; \
             install it (`pip install cargo-lambda`, or see cargo-lambda.info), with zig, and \
             `rustup target add aarch64-unknown-linux-gnu`"
        );
    }
    Ok(())
}

/// The Lambdas built the cargo-lambda way: (package key prefix, package, binary).
pub(crate) const COUNTERS: (&str, &str, &str) = ("counters", "tally-counters", "counters-lambda");

/// The Lambda a log producer runs, as [`COUNTERS`]; the edge producer's is built otherwise.
pub(crate) fn producer_lambda(
    producer: Producer,
) -> Option<(&'static str, &'static str, &'static str)> {
    match producer {
        Producer::RealtimeLogs => Some((
            "realtime-lambda",
            "tally-realtime-lambda",
            "realtime-lambda",
        )),
        Producer::StandardLogs => Some((
            "standard-logs-lambda",
            "tally-standard-logs-lambda",
            "standard-logs-lambda",
        )),
        Producer::Edge => None,
    }
}

/// Builds `bin` of `package` the cargo-lambda way and returns its zip.
pub(crate) fn build_lambda(dir: &Path, package: &str, bin: &str) -> anyhow::Result<Vec<u8>> {
    let status = Command::new("cargo")
        .args([
            "lambda",
            "build",
            "--release",
            "--arm64",
            "--output-format",
            "zip",
        ])
        .args(["--package", package, "--bin", bin, "--lambda-dir"])
        .arg(dir)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("cannot run cargo lambda")?;
    if !status.success() {
        bail!(
            "cargo lambda build failed for {bin} (needs the aarch64-unknown-linux-gnu target and zig)"
        );
    }
    let zip = dir.join(bin).join("bootstrap.zip");
    fs::read(&zip).with_context(|| format!("cargo lambda wrote no {}", zip.display()))
}

/// Builds the edge package with `config` through `tally edge package`.
pub(crate) fn build_edge(config: &Value, dir: &Path) -> anyhow::Result<Vec<u8>> {
    let config_path = dir.join("edge-config.json");
    fs::write(&config_path, serde_json::to_string_pretty(config)?)?;
    let zip = dir.join("edge.zip");
    let exe = std::env::current_exe().context("cannot find the tally executable")?;
    let status = Command::new(exe)
        .args(["edge", "package", "--config"])
        .arg(&config_path)
        .arg("--out")
        .arg(&zip)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("cannot run tally edge package")?;
    if !status.success() {
        bail!("tally edge package failed");
    }
    fs::read(&zip).with_context(|| format!("cannot read {}", zip.display()))
}

/// The stack's status and outputs, or `None` when it does not exist.
async fn describe(
    cfn: &Cfn,
    name: &str,
) -> anyhow::Result<Option<(String, BTreeMap<String, String>)>> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => {
            let Some(stack) = out.stacks().first() else {
                return Ok(None);
            };
            let status = stack
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let outputs = stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect();
            Ok(Some((status, outputs)))
        }
        Err(e) => {
            let text = error_text(&e);
            if text.contains("does not exist") {
                Ok(None)
            } else {
                bail!("cannot describe stack {name}: {text}")
            }
        }
    }
}

/// Creates or updates stack `name` and waits for it; returns its outputs.
///
/// A template larger than CloudFormation's inline limit is passed through `bucket`.
pub async fn deploy_stack(
    cfn: &Cfn,
    s3: Option<(&S3, &str)>,
    name: &str,
    template: &Value,
    parameters: &[(&str, String)],
    poll: Duration,
) -> anyhow::Result<BTreeMap<String, String>> {
    let body = serde_json::to_string(template)?;
    let params: Vec<Parameter> = parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(v)
                .build()
        })
        .collect();
    let url = if body.len() > MAX_TEMPLATE_BODY {
        let (s3, bucket) =
            s3.context("the template is too large to pass inline and no bucket was given")?;
        let key = format!(
            "templates/{name}-{}.json",
            blake3::hash(body.as_bytes()).to_hex()
        );
        upload(s3, bucket, &key, body.clone().into_bytes()).await?;
        let region = s3.config().region().map_or("us-east-1", |r| r.as_ref());
        Some(template_url(bucket, region, &key))
    } else {
        None
    };
    let existing = describe(cfn, name).await?;
    if let Some((status, _)) = &existing
        && status == "ROLLBACK_COMPLETE"
    {
        bail!(
            "stack {name} is in ROLLBACK_COMPLETE (its creation failed): delete it, then deploy again"
        );
    }
    let started = match existing {
        None => {
            let mut req = cfn
                .create_stack()
                .stack_name(name)
                .set_parameters(Some(params))
                .capabilities(Capability::CapabilityIam);
            req = match &url {
                Some(u) => req.template_url(u),
                None => req.template_body(&body),
            };
            req.send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot create stack {name}: {}", error_text(&e)))?;
            true
        }
        Some(_) => {
            let mut req = cfn
                .update_stack()
                .stack_name(name)
                .set_parameters(Some(params))
                .capabilities(Capability::CapabilityIam);
            req = match &url {
                Some(u) => req.template_url(u),
                None => req.template_body(&body),
            };
            match req.send().await {
                Ok(_) => true,
                Err(e) => {
                    let text = error_text(&e);
                    if text.contains("No updates are to be performed") {
                        false
                    } else {
                        bail!("cannot update stack {name}: {text}")
                    }
                }
            }
        }
    };
    if started {
        eprintln!("stack {name}: deploying");
    }
    loop {
        let Some((status, outputs)) = describe(cfn, name).await? else {
            bail!("stack {name} vanished while deploying");
        };
        if status.ends_with("_IN_PROGRESS") {
            tokio::time::sleep(poll).await;
            continue;
        }
        if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
            eprintln!("stack {name}: {status}");
            return Ok(outputs);
        }
        bail!("stack {name} ended in {status}: see its events in the CloudFormation console");
    }
}

/// Puts `bytes` at `key`.
pub async fn upload(s3: &S3, bucket: &str, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot upload s3://{bucket}/{key}: {}", error_text(&e)))?;
    Ok(())
}

/// `{what}/{hash}.zip`: a new package gets a new key, so CloudFormation sees a change.
pub(crate) fn package_key(what: &str, bytes: &[u8]) -> String {
    format!("{what}/{}.zip", blake3::hash(bytes).to_hex())
}

pub(crate) async fn config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// The URL CloudFormation reads a template from: the bucket's regional endpoint, since the global
/// one answers a new bucket outside us-east-1 with a redirect for a while, which CloudFormation
/// does not follow.
fn template_url(bucket: &str, region: &str, key: &str) -> String {
    format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
}

#[cfg(test)]
mod tests {
    use super::template_url;

    #[test]
    fn a_template_url_names_the_buckets_region() {
        assert_eq!(
            template_url("tally-artifacts", "eu-west-1", "templates/pipeline-ab.json"),
            "https://tally-artifacts.s3.eu-west-1.amazonaws.com/templates/pipeline-ab.json"
        );
    }
}
