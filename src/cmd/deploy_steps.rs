//! `tally deploy` without `--dry-run`, step by step (the order is in [`super::deploy_aws`]):
//! what each stack is given and what it hands on.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_s3::Client as S3;
use serde_json::{Value, json};
use tally_deploy::{Options, Producer, Sources, Templates};
use tally_edge::Secret;

use super::deploy::{DeployArgs, render_checked};
use super::deploy_aws::{
    COUNTERS, EDGE_REGION, artifacts_template, build_edge, build_lambda, config, deploy_stack,
    package_key, preflight, producer_lambda, upload,
};
use super::deploy_keys::event_id_key;

/// The edge configuration of `--edge-config`: as JSON (to set its ARN and region) and checked.
pub fn read_edge_config(path: &Path) -> anyhow::Result<(Value, tally_edge::EdgeConfig)> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let config = tally_edge::EdgeConfig::from_json(&text)
        .with_context(|| format!("{} is not a valid edge config", path.display()))?;
    Ok((json, config))
}

/// One region's CloudFormation and S3 clients and its artifacts bucket.
struct Region {
    cfn: Cfn,
    s3: S3,
    bucket: String,
}

const POLL: Duration = Duration::from_secs(5);

impl Region {
    /// The clients of `region` (the SDK's default when `None`) and its artifacts stack.
    async fn open(region: Option<&str>, prefix: &str) -> anyhow::Result<(Region, String)> {
        let sdk = config(region).await;
        let name = sdk
            .region()
            .map(ToString::to_string)
            .context("no region: pass --region or configure the SDK's default region")?;
        let (cfn, s3) = (Cfn::new(&sdk), S3::new(&sdk));
        let stack = format!("{prefix}-artifacts");
        let out = deploy_stack(&cfn, None, &stack, &artifacts_template(), &[], POLL).await?;
        let bucket = out
            .get("BucketName")
            .context("the artifacts stack has no BucketName")?
            .clone();
        Ok((Region { cfn, s3, bucket }, name))
    }

    /// Uploads a package under its hash and returns its key.
    async fn package(&self, what: &str, zip: &[u8]) -> anyhow::Result<String> {
        let key = package_key(what, zip);
        upload(&self.s3, &self.bucket, &key, zip.to_vec()).await?;
        Ok(key)
    }

    async fn stack(
        &self,
        name: &str,
        template: &Value,
        parameters: &[(&str, String)],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        deploy_stack(
            &self.cfn,
            Some((&self.s3, &self.bucket)),
            name,
            template,
            parameters,
            POLL,
        )
        .await
    }
}

/// What the home region hands the edge: the state machine, the region, the deployment's
/// event-id key and the salts table.
struct Home {
    arn: String,
    region: String,
    event_id_key: Secret,
    salts: String,
    salts_arn: String,
}

/// What the run was asked for, checked before anything is built.
struct Plan<'a> {
    args: &'a DeployArgs,
    options: &'a Options,
    templates: Templates,
    producers: BTreeSet<Producer>,
    edge_config: Option<(Value, tally_edge::EdgeConfig)>,
}

impl Plan<'_> {
    fn site(&self) -> String {
        self.edge_config
            .as_ref()
            .map(|(_, c)| c.site.clone())
            .unwrap_or_default()
    }

    /// The edge configuration's minimisation, as the log producers' `Drop` and `TimePrecision`
    /// parameters: every producer leaves out the same.
    fn minimise(&self) -> [(&'static str, String); 2] {
        let minimise = self
            .edge_config
            .as_ref()
            .map(|(_, c)| c.minimise.clone())
            .unwrap_or_default();
        let drop: Vec<String> = minimise.drop.iter().map(ToString::to_string).collect();
        [
            ("Drop", drop.join(",")),
            ("TimePrecision", minimise.time_precision.to_string()),
        ]
    }

    fn output(outputs: &BTreeMap<String, String>, key: &str) -> anyhow::Result<String> {
        outputs
            .get(key)
            .cloned()
            .with_context(|| format!("the stack has no output {key}"))
    }

    /// The home region: pipeline, then each log producer; returns what the edge needs of it
    /// ([`Home`]), and fills the site stack's parameters the producers gave.
    async fn home(
        &self,
        zips: &BTreeMap<&'static str, Vec<u8>>,
        site_parameters: &mut Vec<(&'static str, String)>,
        outputs: &mut BTreeMap<String, String>,
    ) -> anyhow::Result<Home> {
        let prefix = &self.args.stack_prefix;
        let (home, region) = Region::open(self.args.region.as_deref(), prefix).await?;
        let configured = self
            .edge_config
            .as_ref()
            .and_then(|(_, c)| c.event_id_key.as_ref());
        let event_id_key = event_id_key(&home.s3, &home.bucket, configured).await?;
        let counters_key = home.package(COUNTERS.0, &zips[COUNTERS.0]).await?;
        let pipeline = home
            .stack(
                prefix,
                &self.templates.pipeline,
                &[
                    ("RetentionDays", self.options.retention_days.to_string()),
                    // One Glue database per pipeline stack: its name, in Glue's alphabet.
                    ("GlueDatabaseName", prefix.to_lowercase().replace('-', "_")),
                    ("ArtifactBucket", home.bucket.clone()),
                    ("CountersCodeKey", counters_key),
                    (
                        "AlarmEmail",
                        self.args.alarm_email.clone().unwrap_or_default(),
                    ),
                ],
            )
            .await?;
        let arn = Self::output(&pipeline, "StateMachineArn")?;
        let topic = Self::output(&pipeline, "AlarmTopicArn")?;
        let salts = Self::output(&pipeline, "SaltsTableName")?;
        let salts_arn = Self::output(&pipeline, "SaltsTableArn")?;
        outputs.extend(pipeline);
        let [drop, precision] = self.minimise();
        for producer in self.producers.iter().copied() {
            let Some((what, _, _)) = producer_lambda(producer) else {
                continue;
            };
            let key = home.package(what, &zips[what]).await?;
            let out = home
                .stack(
                    &format!("{prefix}-{producer}"),
                    self.templates.producer(producer),
                    &[
                        ("StateMachineArn", arn.clone()),
                        ("AlarmTopicArn", topic.clone()),
                        ("ArtifactBucket", home.bucket.clone()),
                        ("CodeKey", key),
                        ("Site", self.site()),
                        drop.clone(),
                        precision.clone(),
                        ("EventIdKey", event_id_key.0.clone()),
                        ("SaltsTable", salts.clone()),
                    ],
                )
                .await?;
            let (parameter, output) = match producer {
                Producer::RealtimeLogs => ("RealtimeLogConfigArn", "RealtimeLogConfigArn"),
                _ => ("LogBucketDomainName", "LogBucketDomainName"),
            };
            site_parameters.push((parameter, Self::output(&out, output)?));
            outputs.extend(out.into_iter().map(|(k, v)| (format!("{producer}.{k}"), v)));
        }
        Ok(Home {
            arn,
            region,
            event_id_key,
            salts,
            salts_arn,
        })
    }

    /// us-east-1: the edge producer, then the site.
    async fn us_east_1(
        &self,
        home: Home,
        work: &Path,
        mut site_parameters: Vec<(&'static str, String)>,
        outputs: &mut BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let prefix = &self.args.stack_prefix;
        if !self.producers.contains(&Producer::Edge) && !self.args.with_cloudfront {
            return Ok(());
        }
        let (edge, _) = Region::open(Some(EDGE_REGION), &format!("{prefix}-edge")).await?;
        if let Some((json, _)) = &self.edge_config
            && self.producers.contains(&Producer::Edge)
        {
            let mut config = json.clone();
            config["state_machine_arn"] = json!(home.arn);
            config["region"] = json!(home.region);
            config["event_id_key"] = json!(home.event_id_key.0);
            if config["visitor_hash"] == json!(true) {
                // The day's salts, not a fixed key in the package.
                config["salts_table"] = json!(home.salts);
                if let Some(c) = config.as_object_mut() {
                    c.remove("visitor_hash_secret");
                }
            }
            let key = edge.package("edge", &build_edge(&config, work)?).await?;
            let out = edge
                .stack(
                    &format!("{prefix}-edge"),
                    &self.templates.edge,
                    &[
                        ("StateMachineArn", home.arn),
                        ("ArtifactBucket", edge.bucket.clone()),
                        ("EdgeCodeKey", key),
                        ("SaltsTableArn", home.salts_arn),
                    ],
                )
                .await?;
            site_parameters.push((
                "EdgeFunctionVersionArn",
                Self::output(&out, "EdgeFunctionVersionArn")?,
            ));
            outputs.extend(out.into_iter().map(|(k, v)| (format!("edge.{k}"), v)));
        }
        if self.args.with_cloudfront {
            site_parameters.push(("Aliases", self.options.aliases.join(",")));
            site_parameters.push(("CertificateArn", self.options.certificate_arn.clone()));
            let out = edge
                .stack(
                    &format!("{prefix}-site"),
                    &self.templates.site,
                    &site_parameters,
                )
                .await?;
            outputs.extend(out.into_iter().map(|(k, v)| (format!("site.{k}"), v)));
        }
        Ok(())
    }
}

/// Builds the packages and deploys the stacks.
pub fn deploy(args: &DeployArgs, sources: &Sources, options: &Options) -> anyhow::Result<ExitCode> {
    let producers: BTreeSet<Producer> = args.producers.iter().copied().collect();
    let edge_config = match &args.edge_config {
        Some(path) => Some(read_edge_config(path)?),
        None if producers.contains(&Producer::Edge) => anyhow::bail!(
            "--edge-config is required for the edge producer: the site's edge configuration (see \
             producers/edge-lambda/edge.example.json); tally deploy sets its state_machine_arn and region"
        ),
        None => None,
    };
    let plan = Plan {
        args,
        options,
        templates: render_checked(sources, options)?,
        producers,
        edge_config,
    };
    preflight()?;

    let work: PathBuf = std::env::temp_dir().join(format!("tally-deploy-{}", std::process::id()));
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut zips = BTreeMap::new();
    let lambdas = plan.producers.iter().filter_map(|p| producer_lambda(*p));
    for (what, package, bin) in std::iter::once(COUNTERS).chain(lambdas) {
        zips.insert(what, build_lambda(&work.join("lambda"), package, bin)?);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut outputs = BTreeMap::new();
    let result = rt.block_on(async {
        let mut site_parameters = Vec::new();
        let home = plan.home(&zips, &mut site_parameters, &mut outputs).await?;
        plan.us_east_1(home, &work, site_parameters, &mut outputs)
            .await
    });
    fs::remove_dir_all(&work).ok();
    result?;
    for (k, v) in &outputs {
        println!("{k}\t{v}");
    }
    Ok(ExitCode::SUCCESS)
}
