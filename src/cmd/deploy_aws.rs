//! `tally deploy` without `--dry-run`: build both packages, then deploy in order:
//!
//! 1. an artifacts stack per region (`{prefix}-artifacts`, one encrypted private bucket) for the
//!    Lambda packages;
//! 2. the counters Lambda (`cargo lambda build --release --arm64 --output-format zip`), uploaded
//!    under its hash;
//! 3. the pipeline stack `{prefix}` in the home region; its output `StateMachineArn` is baked
//!    into the edge configuration;
//! 4. the edge package (`tally edge package`), uploaded to the us-east-1 artifacts bucket;
//! 5. the edge stack `{prefix}-edge` in us-east-1.
//!
//! Every tool is looked for before anything is built or deployed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::{Capability, Parameter};
use aws_sdk_s3::Client as S3;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use tally_deploy::{Options, Sources};

use super::deploy::{DeployArgs, render_checked};
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
fn preflight() -> anyhow::Result<()> {
    if !tool_works("cargo", &["lambda", "--version"]) {
        bail!(
            "cargo-lambda not found: the counters Lambda is built with `cargo lambda build --release --arm64`; \
             install it (`pip install cargo-lambda`, or see cargo-lambda.info), with zig, and \
             `rustup target add aarch64-unknown-linux-gnu`"
        );
    }
    Ok(())
}

/// Builds the counters Lambda the cargo-lambda way and returns its zip.
fn build_counters(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let status = Command::new("cargo")
        .args([
            "lambda",
            "build",
            "--release",
            "--arm64",
            "--output-format",
            "zip",
            "--package",
            "tally-counters",
            "--bin",
            "counters-lambda",
            "--lambda-dir",
        ])
        .arg(dir)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("cannot run cargo lambda")?;
    if !status.success() {
        bail!(
            "cargo lambda build failed for counters-lambda (needs the aarch64-unknown-linux-gnu target and zig)"
        );
    }
    let zip = dir.join("counters-lambda").join("bootstrap.zip");
    fs::read(&zip).with_context(|| format!("cargo lambda wrote no {}", zip.display()))
}

/// Builds the edge package with `config` through `tally edge package`.
fn build_edge(config: &Value, dir: &Path) -> anyhow::Result<Vec<u8>> {
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
        Some(format!("https://{bucket}.s3.amazonaws.com/{key}"))
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
fn package_key(what: &str, bytes: &[u8]) -> String {
    format!("{what}/{}.zip", blake3::hash(bytes).to_hex())
}

async fn config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// Builds the packages and deploys the pipeline stack, then the edge stack.
pub fn deploy(args: &DeployArgs, sources: &Sources, options: &Options) -> anyhow::Result<ExitCode> {
    let edge_config_path = args.edge_config.as_ref().context(
        "--edge-config is required to deploy: the site's edge configuration (see \
         producers/edge-lambda/edge.example.json); tally deploy sets its state_machine_arn and region",
    )?;
    let text = fs::read_to_string(edge_config_path)
        .with_context(|| format!("cannot read {}", edge_config_path.display()))?;
    let mut edge_config: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", edge_config_path.display()))?;
    tally_edge::EdgeConfig::from_json(&text)
        .with_context(|| format!("{} is not a valid edge config", edge_config_path.display()))?;
    let templates = render_checked(sources, options)?;
    preflight()?;

    let work: PathBuf = std::env::temp_dir().join(format!("tally-deploy-{}", std::process::id()));
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let counters_zip = build_counters(&work.join("lambda"))?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let poll = Duration::from_secs(5);
    let prefix = &args.stack_prefix;
    let result = rt.block_on(async {
        let home = config(args.region.as_deref()).await;
        let home_region = home
            .region()
            .map(ToString::to_string)
            .context("no region: pass --region or configure the SDK's default region")?;
        let (cfn, s3) = (Cfn::new(&home), S3::new(&home));

        let artifacts = format!("{prefix}-artifacts");
        let out = deploy_stack(&cfn, None, &artifacts, &artifacts_template(), &[], poll).await?;
        let bucket = out
            .get("BucketName")
            .context("the artifacts stack has no BucketName")?
            .clone();
        let counters_key = package_key("counters", &counters_zip);
        upload(&s3, &bucket, &counters_key, counters_zip.clone()).await?;

        let outputs = deploy_stack(
            &cfn,
            Some((&s3, &bucket)),
            prefix,
            &templates.pipeline,
            &[
                ("RetentionDays", options.retention_days.to_string()),
                // One Glue database per pipeline stack: its name, in Glue's alphabet.
                ("GlueDatabaseName", prefix.to_lowercase().replace('-', "_")),
                ("ArtifactBucket", bucket.clone()),
                ("CountersCodeKey", counters_key),
            ],
            poll,
        )
        .await?;
        let arn = outputs
            .get("StateMachineArn")
            .context("the pipeline stack has no StateMachineArn output")?
            .clone();

        edge_config["state_machine_arn"] = json!(arn);
        edge_config["region"] = json!(home_region);
        let edge_zip = build_edge(&edge_config, &work)?;

        let edge = config(Some(EDGE_REGION)).await;
        let (edge_cfn, edge_s3) = (Cfn::new(&edge), S3::new(&edge));
        let edge_artifacts = format!("{prefix}-edge-artifacts");
        let out = deploy_stack(
            &edge_cfn,
            None,
            &edge_artifacts,
            &artifacts_template(),
            &[],
            poll,
        )
        .await?;
        let edge_bucket = out
            .get("BucketName")
            .context("the artifacts stack has no BucketName")?
            .clone();
        let edge_key = package_key("edge", &edge_zip);
        upload(&edge_s3, &edge_bucket, &edge_key, edge_zip).await?;
        let edge_outputs = deploy_stack(
            &edge_cfn,
            Some((&edge_s3, &edge_bucket)),
            &format!("{prefix}-edge"),
            &templates.edge,
            &[
                ("StateMachineArn", arn),
                ("ArtifactBucket", edge_bucket.clone()),
                ("EdgeCodeKey", edge_key),
                ("OriginDomainName", options.origin_domain.clone()),
            ],
            poll,
        )
        .await?;
        anyhow::Ok((outputs, edge_outputs))
    });
    fs::remove_dir_all(&work).ok();
    let (pipeline, edge) = result?;
    for (k, v) in pipeline.iter().chain(&edge) {
        println!("{k}\t{v}");
    }
    Ok(ExitCode::SUCCESS)
}
